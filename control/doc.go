// Package control is the local socket through which other bulkget commands
// reach the run that holds an output folder: `bulkget watch DIR` follows
// its events and `bulkget status DIR` asks whether a run is there.
//
// # Where the socket is
//
// The run that holds the folder's lock listens on DIR/.bulkget.sock. A
// Unix socket's path must fit in sun_path (104 bytes on macOS and the BSDs,
// 108 on Linux); when DIR's real path is too long for that, the socket is
// /tmp/bulkget-UID/HASH.sock instead, HASH naming DIR's real path (symbolic
// links resolved), in a folder only the user can enter. /tmp rather than
// $TMPDIR or $XDG_RUNTIME_DIR: a watcher over a later ssh session must find
// the same path, and logind removes the runtime folder when the user's last
// session ends, which is the very case a detached run is for.
//
// # Who may connect
//
// The socket is made mode 0600 as soon as it exists (a connection in the
// instant between the two would need the folder to let others in); on
// Linux the server also checks each peer's user ID (SO_PEERCRED) and closes
// a connection from anyone else. A socket is created only while its run holds the folder's
// lock, so a stale socket at the path is removed before listening.
//
// # Protocol
//
// A client sends one request, a JSON object on one line: {"op":"watch"}.
// The server answers with JSON lines written by the op's Handler and closes
// the connection when the handler returns; an unknown op gets one line
// {"type":"error","error":"…"}. An op is added by adding its Handler to the
// map given to Listen: nothing else changes. The lines are the run's
// business (cmd/bulkget writes its JSON event objects); this package never
// reads them.
//
// # Concurrency and what is left behind
//
// A Server serves each connection on its own goroutine. Close stops
// accepting and removes the socket if the path still names it, so a run
// closes it before it releases the folder's lock; Wait then lets the
// handlers finish (a watcher gets the run's summary) and cancels those
// that do not in time. A process that dies leaves the socket file;
// the next run on the folder removes it.
package control
