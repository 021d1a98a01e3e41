//go:build !race

package outbound_test

// raceSlack: see hostile_race_test.go.
const raceSlack = 1
