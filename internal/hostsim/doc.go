// Package hostsim runs downloads against modelled hosts on a virtual clock,
// so that the per-host connection controller (hostlimit) and the work
// policy (pick) can be judged on dozens of host shapes in a second, free of
// a shared machine's timing.
//
// A Shape is one or more hosts (mirrors of the same bytes), each with a
// cap per connection, a cap in total, a connection limit above which it
// refuses, pacing in one-second bursts as nginx's limit_rate does, a round
// trip, and changes of its caps at given times. Run downloads Shape.Bytes
// with a real hostlimit.Controller per host, or at a fixed level: every
// Step, each connection's request receives its share of its host's
// capacity; a free connection takes a range whose backoff is over, else
// what the real work policy (pick.Choose) chooses over a snapshot of the
// ranges in progress (a split, or a takeover, which throws away what the
// victim had in flight); a request pays a round trip before its first
// byte; a refused one pays a round trip and backs off; the controller hears
// every answer and refusal, and a sample every tick, and its sheds end
// requests at once. A request ended early on a host that paces throws away
// what the host had already sent of its burst: those bytes are counted as
// fetched twice.
//
// The model is deterministic: the same Shape gives the same Result. It is
// test code's tool; nothing in bulkget's run uses it.
package hostsim
