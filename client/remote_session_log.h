#pragma once
// A read-only SessionLog over a running waked's HTTP API, so the code that inspects sessions on a
// data dir (inspect/, wakectl) works unchanged against a server: `wakectl --url URL ...`.
//
// What it reads: GetSession and ListSessions from /v1/sessions; Read from
// /v1/sessions/{id}/events?include_internal=true, walked from the first page so every event gets
// its seq (its position in the log: the API's events carry none); Subscribe from the event stream,
// resumed after the last event delivered. What it cannot give: leases (GetLease is NotFound: waked
// does not publish them), and wake's own fields that the Managed Agents event shapes have no place
// for (a model request's time to first token and duration, a hand's provisioning time: zero here).
// SessionInfo::next_seq is known only after Read (ListSessions leaves it 0: counting would cost a
// request per session). Everything that writes is FailedPrecondition.
//
// Thread-compatible (each call is its own HTTP exchange).

#include <memory>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "storage/session_log.h"

namespace wake {

std::unique_ptr<SessionLog> NewRemoteSessionLog(Client client);

// The SessionInfo of a Managed Agents session resource (JSON). InvalidArgument when it is not one.
absl::StatusOr<SessionInfo> SessionInfoFromJson(std::string_view json);

}  // namespace wake
