@0xd50895cc05502249;
# The wire protocol between the engine and wake_hand_agent (sandbox/agent), the small process that
# lives inside a hand (a container, an SSH host) and serves the hand primitives of sandbox/hand.h
# over one long-lived stream with Cap'n Proto two-party RPC. The engine is the client, the agent
# the server (the bootstrap capability is a HandAgent).
#
# COMPATIBILITY. The engine copies the agent it was built with into each hand, so both ends are
# always of one build; still, never renumber an ordinal: an agent left running by an older engine
# (after a restart, before it is replaced) must fail cleanly, and `ping` reports the version.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("wake::agent_wire");

interface HandAgent {
  # The agent's identity and protocol version: the client's check that the stream works.
  ping @0 () -> (version :UInt32, pid :Int32, workDir :Text);

  # Runs a process to completion, timeout or cancel (sandbox/hand.h RunRequest / RunOutcome).
  # A process that ran and failed is an outcome with an OK status; `status` is set when it could
  # not be started at all.
  run @1 (request :RunRequest) -> (status :Status, outcome :RunOutcome);

  # Cancels the run whose request carried `runId` (no effect when there is none): its process
  # group is killed and that run returns with `cancelled` and the output so far.
  cancel @2 (runId :UInt64) -> ();

  # A file's content, up to maxBytes (OutOfRange beyond). Errors as Hand::ReadFile's.
  readFile @3 (path :Text, maxBytes :UInt64) -> (status :Status, content :Data);

  # Creates or replaces a file (and its missing parent directories); an existing file keeps its
  # mode, a symlink is written through. Errors as Hand::WriteFile's.
  writeFile @4 (path :Text, content :Data) -> (status :Status);
}

# An absl::Status: code 0 is OK; other codes are absl::StatusCode numbers.
struct Status {
  code @0 :UInt32;
  message @1 :Text;
}

struct EnvVar {
  name @0 :Text;
  value @1 :Text;
}

struct RunRequest {
  argv @0 :List(Text);      # run directly when not empty
  shell @1 :Text;           # else /bin/sh -c shell
  stdin @2 :Data;
  env @3 :List(EnvVar);     # added to (or overriding) the agent's own environment
  cwd @4 :Text;             # absolute, or relative to the agent's work dir; "" is the work dir
  timeoutNanos @5 :Int64;
  outputCap @6 :UInt64;     # per stream
  runId @7 :UInt64;         # for cancel; 0: not cancellable by id
}

struct RunOutcome {
  exited @0 :Bool;
  exitCode @1 :Int32;
  termSignal @2 :Int32;
  timedOut @3 :Bool;
  cancelled @4 :Bool;
  stdout @5 :Data;
  stderr @6 :Data;
  stdoutTruncated @7 :Bool;
  stderrTruncated @8 :Bool;
}
