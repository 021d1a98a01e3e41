package bench

import (
	"encoding/json"
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of ds by the
// nearest-rank method; 0 for no data. ds is sorted in place.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}

// Spread is a set of per-round values: their median and range.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// SpreadOf summarises vs; NaN values (a round without the figure) are
// left out. The zero Spread has no values.
func SpreadOf(vs []float64) Spread {
	vs = slices.DeleteFunc(slices.Clone(vs), math.IsNaN)
	if len(vs) == 0 {
		return Spread{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(vs)
	m := vs[len(vs)/2]
	if len(vs)%2 == 0 {
		m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return Spread{Median: m, Min: vs[0], Max: vs[len(vs)-1]}
}

// Variation is (max − min) / median: how far apart the rounds are, as a
// fraction of the typical value.
func (s Spread) Variation() float64 {
	if s.Median == 0 {
		return math.NaN()
	}
	return (s.Max - s.Min) / s.Median
}

// Valid reports whether s summarises at least one value.
func (s Spread) Valid() bool { return !math.IsNaN(s.Median) }

// MarshalJSON writes a Spread without values as null (JSON has no NaN).
func (s Spread) MarshalJSON() ([]byte, error) {
	if !s.Valid() {
		return []byte("null"), nil
	}
	type plain Spread
	return json.Marshal(plain(s))
}
