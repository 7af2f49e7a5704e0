package mesoslocal

import (
	"fmt"
	"math"
	"sort"

	mesos "github.com/mesos/mesos-go/api/v1/lib"
)

// portRange is an inclusive range of ports.
type portRange struct{ begin, end uint64 }

// resources is an agent's, offer's or task's resources as plain numbers.
// Scalars are kept in thousandths, as Mesos does, so sums do not drift.
type resources struct {
	scalars map[string]int64 // "cpus", "mem", "disk", and any other scalar
	ports   []portRange      // sorted, merged
}

func toMilli(v float64) int64   { return int64(math.Round(v * 1000)) }
func fromMilli(v int64) float64 { return float64(v) / 1000 }

func newResources(cpus, mem, disk float64, ports []portRange) resources {
	return resources{
		scalars: map[string]int64{"cpus": toMilli(cpus), "mem": toMilli(mem), "disk": toMilli(disk)},
		ports:   normalizeRanges(append([]portRange(nil), ports...)),
	}
}

func (r resources) clone() resources {
	out := resources{scalars: make(map[string]int64, len(r.scalars)), ports: append([]portRange(nil), r.ports...)}
	for k, v := range r.scalars {
		out.scalars[k] = v
	}
	return out
}

func (r resources) isEmpty() bool {
	for _, v := range r.scalars {
		if v > 0 {
			return false
		}
	}
	return len(r.ports) == 0
}

func (r resources) scalar(name string) float64 { return fromMilli(r.scalars[name]) }

// parseResources converts protobuf resources; it rejects what mesoslocal
// cannot account for (sets, unknown range resources, negative values).
func parseResources(rs []mesos.Resource) (resources, error) {
	out := resources{scalars: map[string]int64{}}
	for _, res := range rs {
		t := mesos.SCALAR
		if res.Type != nil {
			t = *res.Type
		}
		switch {
		case res.Name == "":
			return out, fmt.Errorf("resource without a name")
		case t == mesos.SCALAR:
			if res.Scalar == nil {
				return out, fmt.Errorf("scalar resource %q without a value", res.Name)
			}
			if res.Scalar.Value < 0 || math.IsNaN(res.Scalar.Value) || math.IsInf(res.Scalar.Value, 0) {
				return out, fmt.Errorf("resource %q has invalid value %v", res.Name, res.Scalar.Value)
			}
			out.scalars[res.Name] += toMilli(res.Scalar.Value)
		case t == mesos.RANGES && res.Name == "ports":
			if res.Ranges == nil {
				return out, fmt.Errorf("ranges resource %q without ranges", res.Name)
			}
			for _, rg := range res.Ranges.Range {
				if rg.Begin > rg.End {
					return out, fmt.Errorf("port range %d-%d is reversed", rg.Begin, rg.End)
				}
				for _, have := range out.ports {
					if rg.Begin <= have.end && have.begin <= rg.End {
						return out, fmt.Errorf("port range %d-%d overlaps another range of the same resources", rg.Begin, rg.End)
					}
				}
				out.ports = append(out.ports, portRange{rg.Begin, rg.End})
			}
			out.ports = normalizeRanges(out.ports)
		default:
			return out, fmt.Errorf("resource %q of type %s is not supported by mesoslocal", res.Name, t)
		}
	}
	return out, nil
}

// toProto renders r as Mesos resources allocated to role.
func (r resources) toProto(role string) []mesos.Resource {
	var out []mesos.Resource
	star := "*"
	alloc := func() *mesos.Resource_AllocationInfo {
		if role == "" {
			return nil
		}
		rl := role
		return &mesos.Resource_AllocationInfo{Role: &rl}
	}
	names := make([]string, 0, len(r.scalars))
	for k := range r.scalars {
		names = append(names, k)
	}
	order := map[string]int{"cpus": 0, "mem": 1, "disk": 2}
	sort.Slice(names, func(i, j int) bool {
		oi, ok1 := order[names[i]]
		oj, ok2 := order[names[j]]
		if !ok1 {
			oi = 3
		}
		if !ok2 {
			oj = 3
		}
		if oi != oj {
			return oi < oj
		}
		return names[i] < names[j]
	})
	for _, name := range names {
		v := r.scalars[name]
		if v <= 0 {
			continue
		}
		out = append(out, mesos.Resource{
			Name: name, Type: mesos.SCALAR.Enum(), Scalar: &mesos.Value_Scalar{Value: fromMilli(v)},
			Role: &star, AllocationInfo: alloc(),
		})
	}
	if len(r.ports) > 0 {
		rgs := make([]mesos.Value_Range, len(r.ports))
		for i, p := range r.ports {
			rgs[i] = mesos.Value_Range{Begin: p.begin, End: p.end}
		}
		out = append(out, mesos.Resource{
			Name: "ports", Type: mesos.RANGES.Enum(), Ranges: &mesos.Value_Ranges{Range: rgs},
			Role: &star, AllocationInfo: alloc(),
		})
	}
	return out
}

// contains reports whether r holds all of o.
func (r resources) contains(o resources) bool {
	for k, v := range o.scalars {
		if v > r.scalars[k] {
			return false
		}
	}
	return rangesContain(r.ports, o.ports)
}

func (r resources) add(o resources) resources {
	out := r.clone()
	for k, v := range o.scalars {
		out.scalars[k] += v
	}
	out.ports = normalizeRanges(append(out.ports, o.ports...))
	return out
}

// sub returns r minus o; callers check contains first.
func (r resources) sub(o resources) resources {
	out := r.clone()
	for k, v := range o.scalars {
		out.scalars[k] -= v
		if out.scalars[k] < 0 {
			out.scalars[k] = 0
		}
	}
	out.ports = subtractRanges(out.ports, o.ports)
	return out
}

// offerable reports whether r is worth offering (Mesos: 0.01 cpus or 32 MB).
func (r resources) offerable() bool {
	return r.scalars["cpus"] >= 10 || r.scalars["mem"] >= 32000
}

func (r resources) String() string {
	return fmt.Sprintf("cpus:%g mem:%g disk:%g ports:%v", r.scalar("cpus"), r.scalar("mem"), r.scalar("disk"), r.ports)
}

func normalizeRanges(rs []portRange) []portRange {
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].begin < rs[j].begin })
	out := []portRange{rs[0]}
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.begin <= last.end+1 {
			if r.end > last.end {
				last.end = r.end
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

func rangesContain(have, want []portRange) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			if w.begin >= h.begin && w.end <= h.end {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func subtractRanges(have, remove []portRange) []portRange {
	out := append([]portRange(nil), have...)
	for _, rm := range remove {
		var next []portRange
		for _, h := range out {
			if rm.end < h.begin || rm.begin > h.end {
				next = append(next, h)
				continue
			}
			if rm.begin > h.begin {
				next = append(next, portRange{h.begin, rm.begin - 1})
			}
			if rm.end < h.end {
				next = append(next, portRange{rm.end + 1, h.end})
			}
		}
		out = next
	}
	return out
}
