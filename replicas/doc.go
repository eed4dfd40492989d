// Package replicas tells, from a source's answers, whether a validator
// other than the one a file keeps comes from another replica of the same
// name (a load balancer over machines whose ETags differ, a deploy half
// done) or from a change of the remote file.
//
// An Evidence is fed every answer of another version (Other) and every
// answer of the kept one while others are in question (Kept), each with
// the time its request was sent and, for Other, the time now. The rule:
// the other version is another replica when the kept version answers a
// request sent after the other one first answered, or when it is a
// validator the source kept before a restart (Forget records those); it is
// a change when only other versions answer, ChangeAnswers in a row
// (FarmAnswers on a host known to serve from replicas), or, before the host
// is known to, when they name more than FarmVersions validators. Answers to
// requests sent before the run of other answers began count as one.
//
// It does no I/O and reads no clock; it is not safe for concurrent use
// (the scheduler calls it under its lock).
package replicas
