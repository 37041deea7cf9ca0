@0xc96afd10f1a6778a;
# The on-disk format of wake's session log: one Event message per log entry (key: session id ++
# big-endian seq), plus the per-session records kept beside the events (SessionRecord, LeaseRecord).
#
# COMPATIBILITY RULES. This file *is* the storage format; data written today must stay readable.
#  - Never renumber, reuse or remove an ordinal (@N), and never change a field's type.
#  - Only add: a new field takes the next free ordinal of its struct; a new event kind is a new
#    member of Event's union with the next free ordinal.
#  - A reader meeting a union member or enumerant it does not know (written by a newer wake) must
#    report DataLoss, never guess (schemas/event_codec.cc does).
# Text fields hold UTF-8 as given by the writer; an absent optional Text is a null pointer (has*()
# false), which is distinct from an empty string.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("wake::schema");

# ---------------------------------------------------------------------------------------------------
# Building blocks

# A free-form payload that may be large (message text, image bytes, tool input). The encoder moves
# payloads over a size threshold to the content-addressed blob store and keeps only the reference.
struct Payload {
  union {
    inline @0 :Text;   # the payload itself
    blobRef @1 :Text;  # key in the blob store; opaque to the codec
  }
}

# A "was this an error?" flag that may be unstated (JSON `is_error` absent or null).
enum OptionalBool {
  unstated @0;
  no @1;
  yes @2;
}

# Where an image's or document's bytes come from.
struct Source {
  union {
    base64 @0 :Void;  # data = base64 bytes, mediaType set
    text @1 :Void;    # documents only: data = plain text, mediaType "text/plain"
    url @2 :Void;     # data = the URL
    file @3 :Void;    # data = the file id
  }
  data @4 :Payload;
  mediaType @5 :Text;  # base64 and text sources only
}

struct ImageBlock {
  source @0 :Source;
}

struct DocumentBlock {
  source @0 :Source;
  title @1 :Text;    # optional: null = absent
  context @2 :Text;  # optional: null = absent
}

# One block of a message or tool result.
struct ContentBlock {
  union {
    text @0 :Payload;
    image @1 :ImageBlock;
    document @2 :DocumentBlock;
    redacted @3 :Void;
  }
}

# ---------------------------------------------------------------------------------------------------
# Per-kind bodies. Every kind has its own struct, even an empty one, so fields can be added to one
# kind later without touching the others.

struct UserMessage { content @0 :List(ContentBlock); }
struct UserInterrupt {}
struct UserToolConfirmation {
  toolUseId @0 :Text;
  allow @1 :Bool;
  denyMessage @2 :Text;  # optional: null = absent
}
# user.custom_tool_result and agent.tool_result share a shape.
struct ToolResult {
  toolUseId @0 :Text;    # JSON custom_tool_use_id for user.custom_tool_result
  content @1 :List(ContentBlock);
  isError @2 :OptionalBool;
}
struct AgentMessage { content @0 :List(ContentBlock); }
struct AgentThinking {}
# agent.tool_use and agent.custom_tool_use share a shape.
struct ToolUse {
  name @0 :Text;
  input @1 :Payload;  # a JSON object, compact text
}
# wake's own fields (the Managed Agents JSON shape has none): the summary that replaces the events
# up to and including seq `throughSeq` in the model's context.
struct AgentThreadContextCompacted {
  summary @0 :List(ContentBlock);
  throughSeq @1 :UInt64;
}
struct SessionStatusRunning {}

struct StopReason {
  union {
    endTurn @0 :Void;
    requiresAction @1 :Void;
    retriesExhausted @2 :Void;
  }
  eventIds @3 :List(Text);  # requiresAction only
}
struct SessionStatusIdle { stopReason @0 :StopReason; }
struct SessionStatusRescheduled {}
struct SessionStatusTerminated {}

enum RetryStatus {
  retrying @0;
  exhausted @1;
  terminal @2;
}
struct SessionError {
  type @0 :Text;
  message @1 :Text;
  retryStatus @2 :RetryStatus;
}

struct SpanModelRequestStart {}
struct SpanModelRequestEnd {
  modelRequestStartId @0 :Text;
  isError @1 :OptionalBool;
  inputTokens @2 :Int64;
  outputTokens @3 :Int64;
  cacheCreationInputTokens @4 :Int64;
  cacheReadInputTokens @5 :Int64;
  # wake's own (not in the Managed Agents JSON): timings the brain measured, in microseconds.
  timeToFirstTokenUs @6 :Int64;
  durationUs @7 :Int64;
}

struct ToolStarted {
  toolUseId @0 :Text;
  name @1 :Text;
  idempotencyKey @2 :Text;
}
struct HandProvisioned {
  handId @0 :Text;
  backend @1 :Text;
  durationUs @2 :Int64;
  reason @3 :Text;  # "" for a new sandbox, "reattached" or "warm" (a spare from the warm pool)
}
struct HandLost {
  handId @0 :Text;
  backend @1 :Text;
  reason @2 :Text;
}
struct HandReleased {
  handId @0 :Text;
  backend @1 :Text;
}
struct HarnessWoke {
  workerId @0 :Text;
  leaseEpoch @1 :UInt64;
}
# The session continues from event `toSeq`: the events after it and before this marker stay in the
# log for audit but no longer count (wakectl rewind).
struct Rewound {
  toSeq @0 :UInt64;
}

# ---------------------------------------------------------------------------------------------------
# One entry of a session's log. The seq is the storage key, not part of the value.

struct Event {
  id @0 :Text;                # "sevt_..."
  processedAtUs @1 :Int64;    # microseconds since the Unix epoch, UTC

  union {
    userMessage @2 :UserMessage;
    userInterrupt @3 :UserInterrupt;
    userToolConfirmation @4 :UserToolConfirmation;
    userCustomToolResult @5 :ToolResult;
    agentMessage @6 :AgentMessage;
    agentThinking @7 :AgentThinking;
    agentToolUse @8 :ToolUse;
    agentToolResult @9 :ToolResult;
    agentCustomToolUse @10 :ToolUse;
    agentThreadContextCompacted @11 :AgentThreadContextCompacted;
    sessionStatusRunning @12 :SessionStatusRunning;
    sessionStatusIdle @13 :SessionStatusIdle;
    sessionStatusRescheduled @14 :SessionStatusRescheduled;
    sessionStatusTerminated @15 :SessionStatusTerminated;
    sessionError @16 :SessionError;
    spanModelRequestStart @17 :SpanModelRequestStart;
    spanModelRequestEnd @18 :SpanModelRequestEnd;
    toolStarted @19 :ToolStarted;
    handProvisioned @20 :HandProvisioned;
    handLost @21 :HandLost;
    handReleased @22 :HandReleased;
    harnessWoke @23 :HarnessWoke;
    rewound @24 :Rewound;
  }
}

# ---------------------------------------------------------------------------------------------------
# Per-session records (storage/: "sessions" and "leases" column families, keyed by the session id).

struct MetadataEntry {
  key @0 :Text;
  value @1 :Text;
}

# Session metadata (storage's SessionInfo).
struct SessionRecord {
  id @0 :Data;                # the 16 id bytes (schemas/ids.h)
  workspaceId @1 :Text;
  status @2 :Text;            # "idle", "running", "rescheduling" or "terminated"
  createdAtUs @3 :Int64;
  updatedAtUs @4 :Int64;
  nextSeq @5 :UInt64;         # the seq the next appended event gets
  agentId @6 :Text;
  agentVersion @7 :UInt64;
  environmentId @8 :Text;
  title @9 :Text;
  metadata @10 :List(MetadataEntry);  # in the caller's order
  archivedAtUs @11 :Int64;    # 0 = not archived
}

# An engine document (storage/document_store.h): agents, environments, vault entries, API keys.
struct DocumentRecord {
  version @0 :UInt64;
  json @1 :Text;
  createdAtUs @2 :Int64;
  updatedAtUs @3 :Int64;
  archivedAtUs @4 :Int64;     # 0 = not archived
}

# The current lease on a session. Every grant bumps the epoch; appends carry it for fencing.
struct LeaseRecord {
  epoch @0 :UInt64;
  owner @1 :Text;
  expiresAtUs @2 :Int64;
}
