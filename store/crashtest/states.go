package crashtest

import "math/rand/v2"

// everySubset is the most pending units whose every subset States
// enumerates in exhaustive mode: 2^8 states at one crash point.
const everySubset = 8

// States returns crash states at the current point. The first five are
// always there: all lost, all kept, names and sizes kept with the writes
// lost (a journal that keeps metadata only), names kept with the data and
// sizes lost, and names lost with the data kept (where a wrong order
// between a sync and a save or a rename shows). extra more are drawn with rng: a
// prefix of the pending units kept (a file system that keeps order), a
// random subset (one that does not: torn and reordered writes), one unit
// lost, or one kept. With exhaustive set and at most everySubset units
// pending, every subset is returned instead.
func (m *Model) States(rng *rand.Rand, extra int, exhaustive bool) []Crash {
	us := m.pending()
	n := len(us)
	if exhaustive && n <= everySubset {
		cs := make([]Crash, 0, 1<<n)
		for mask := range 1 << n {
			keep := make([]bool, n)
			for i := range keep {
				keep[i] = mask&(1<<i) != 0
			}
			cs = append(cs, Crash{At: m.at, Keep: keep, How: "every subset"})
		}
		return cs
	}
	fill := func(how string, f func(i int, u unit) bool) Crash {
		keep := make([]bool, n)
		for i, u := range us {
			keep[i] = f(i, u)
		}
		return Crash{At: m.at, Keep: keep, How: how}
	}
	cs := []Crash{fill("all lost", func(int, unit) bool { return false })}
	if n == 0 {
		return cs
	}
	cs = append(cs,
		fill("all kept", func(int, unit) bool { return true }),
		fill("metadata kept, writes lost", func(_ int, u unit) bool { return u.kind != Write }),
		fill("names kept, data lost", func(_ int, u unit) bool { return u.dir != "" }),
		fill("names lost, data kept", func(_ int, u unit) bool { return u.dir == "" }))
	for range extra {
		j := rng.IntN(n)
		switch rng.IntN(4) {
		case 0:
			cs = append(cs, fill("prefix", func(i int, _ unit) bool { return i < j }))
		case 1:
			cs = append(cs, fill("random", func(int, unit) bool { return rng.IntN(2) == 0 }))
		case 2:
			cs = append(cs, fill("one lost", func(i int, _ unit) bool { return i != j }))
		default:
			cs = append(cs, fill("one kept", func(i int, _ unit) bool { return i == j }))
		}
	}
	return cs
}
