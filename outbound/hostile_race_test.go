//go:build race

package outbound_test

// raceSlack widens the hostile corpus's budgets in a race-detector build,
// which slows code down 2 to 20 times and adds allocations of its own; the
// figures to report come from a normal build.
const raceSlack = 25
