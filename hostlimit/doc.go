// Package hostlimit decides how many connections one host gets.
//
// A Controller holds a level, the connections the host is allowed now, and
// changes it from what it is told: answers and refusals as they come, and
// every Params.Tick what the host has delivered and how many requests were
// at work. Refusals (429, 503) that are a sizeable share of the recent
// answers halve the level at once, and the lowest level ever refused
// becomes a ceiling that a later climb stays under; quiet time gives
// connections back one a second. When adaptive, the level also climbs by
// measurement: the host's rate at a level is measured over a window in
// which every allowed connection was busy, the level is then doubled, kept
// and doubled again while the rate rises nearly in proportion, settled
// where the gains stopped when it rises less, and given back when it does
// not rise at all; a settled level tries a quarter fewer every
// Params.Reprobe and keeps them if the rate holds. A host that paces its
// connections in bursts is raised at once by how far its peak rate exceeds
// its mean. A lowered level tells the caller how many running requests to
// end now, and only those that would run on for long.
//
// The Controller does no I/O and reads no clock: every call carries the
// time. It is not safe for concurrent use; the scheduler calls it under
// its lock. Its parameters, each with the reason for its default, are in
// Params.
package hostlimit
