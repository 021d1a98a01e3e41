package testkit

import (
	"os"
	"testing"
)

// BudgetEnv is the environment variable that turns the budget mode on
// (SCPROXY_BUDGETS=1). CI sets it for a separate run, without the race
// detector, of the tests that measure time and memory.
const BudgetEnv = "SCPROXY_BUDGETS"

// BudgetMultiple is how far over its goal a figure may be, in the budget
// mode, before its test fails: a clear regression, not a busy machine.
const BudgetMultiple = 4

// Budgets reports whether this run measures budgets. In the default run,
// a test asserts behaviour (refused, the right fault, still serving) and
// only logs the figures it measures.
func Budgets() bool { return os.Getenv(BudgetEnv) == "1" }

// Figure is what a budget measures: a time.Duration or a count of bytes.
type Figure interface {
	~int | ~int64 | ~uint64
}

// Budget reports a measured figure against its goal. It always logs it;
// in the budget mode it also fails the test when got exceeds
// BudgetMultiple times goal. what names the figure (for example
// "answer time", "bytes allocated").
func Budget[T Figure](t testing.TB, what string, got, goal T) {
	t.Helper()
	ratio := float64(got) / float64(max(goal, 1))
	t.Logf("budget: %s %v, goal %v (%.2f× the goal)", what, got, goal, ratio)
	if Budgets() && ratio > BudgetMultiple {
		t.Errorf("budget: %s %v is over %d× its goal %v", what, got, BudgetMultiple, goal)
	}
}
