package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// perfManager answers QueryPerf like the stock simulator, except for injected samples:
// (entity, counter) pairs set through the control API return exactly the injected value
// for every requested sample, one series per injected instance (all of them for instance
// "*"). The stock one only has data for a few CPU and network counters and adds noise.
// It also answers the csv format (PerfQuerySpec.format "csv"), which the stock one
// ignores: vCenter's PerfEntityMetricCSV, see toCSV.
type perfManager struct {
	simulator.PerformanceManager
	mu       sync.Mutex
	counters map[string]int32                      // "net.droppedRx.summation" -> key
	injected map[string]map[int32]map[string]int64 // entity moid -> counter -> instance -> value
}

func installPerfManager() *perfManager {
	stock := simulator.Map.Get(*vpx.ServiceContent.PerfManager).(*simulator.PerformanceManager)
	// Embedded by value: the property collector needs the mo type reachable through
	// field 0 of struct values (perfManager.perfCounter is read by every client).
	p := &perfManager{
		PerformanceManager: *stock,
		counters:           map[string]int32{},
		injected:           map[string]map[int32]map[string]int64{},
	}
	for _, info := range p.PerfCounter {
		name := fmt.Sprintf("%s.%s.%s", info.GroupInfo.GetElementDescription().Key,
			info.NameInfo.GetElementDescription().Key, info.RollupType)
		p.counters[name] = info.Key
	}
	simulator.Map.Put(p)
	return p
}

func (p *perfManager) inject(entity, counter, instance string, value int64) error {
	key, ok := p.counters[counter]
	if !ok {
		return fmt.Errorf("unknown counter %q (expected group.name.rollup, e.g. net.droppedRx.summation)", counter)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.injected[entity] == nil {
		p.injected[entity] = map[int32]map[string]int64{}
	}
	if p.injected[entity][key] == nil {
		p.injected[entity][key] = map[string]int64{}
	}
	p.injected[entity][key][instance] = value
	return nil
}

func (p *perfManager) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injected = map[string]map[int32]map[string]int64{}
}

func (p *perfManager) QueryPerf(ctx *simulator.Context, req *types.QueryPerf) soap.HasFault {
	res := p.PerformanceManager.QueryPerf(ctx, req)
	body, ok := res.(*methods.QueryPerfBody)
	if !ok || body.Res == nil {
		return res
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, base := range body.Res.Returnval {
		metric, ok := base.(*types.PerfEntityMetric)
		if !ok {
			continue
		}
		p.injectInto(metric)
		if i < len(req.QuerySpec) && req.QuerySpec[i].Format == string(types.PerfFormatCsv) {
			body.Res.Returnval[i] = toCSV(metric)
		}
	}
	return body
}

// toCSV is vCenter's csv form of an entity's samples: sampleInfoCSV is
// "interval,timestamp" per sample, and each series' values are one comma-separated
// string (PerfMetricSeriesCSV), in the order of the normal form.
func toCSV(metric *types.PerfEntityMetric) *types.PerfEntityMetricCSV {
	info := make([]string, 0, 2*len(metric.SampleInfo))
	for _, s := range metric.SampleInfo {
		info = append(info, strconv.Itoa(int(s.Interval)), s.Timestamp.UTC().Format(time.RFC3339))
	}
	out := &types.PerfEntityMetricCSV{
		PerfEntityMetricBase: metric.PerfEntityMetricBase,
		SampleInfoCSV:        strings.Join(info, ","),
	}
	for _, base := range metric.Value {
		series := types.PerfMetricSeriesCSV{PerfMetricSeries: *base.GetPerfMetricSeries()}
		if ints, ok := base.(*types.PerfMetricIntSeries); ok {
			values := make([]string, len(ints.Value))
			for i, v := range ints.Value {
				values[i] = strconv.FormatInt(v, 10)
			}
			series.Value = strings.Join(values, ",")
		}
		out.Value = append(out.Value, series)
	}
	return out
}

// injectInto replaces the series of injected counters by their injected values.
func (p *perfManager) injectInto(metric *types.PerfEntityMetric) {
	byCounter := p.injected[metric.Entity.Value]
	if len(byCounter) == 0 {
		return
	}
	samples := len(metric.SampleInfo)
	var out []types.BasePerfMetricSeries
	for _, s := range metric.Value {
		id := s.GetPerfMetricSeries().Id
		instances, injected := byCounter[id.CounterId]
		if !injected {
			out = append(out, s)
			continue
		}
		names := make([]string, 0, len(instances))
		for name := range instances {
			if id.Instance == "*" || id.Instance == name {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			values := make([]int64, samples)
			for i := range values {
				values[i] = instances[name]
			}
			out = append(out, &types.PerfMetricIntSeries{
				PerfMetricSeries: types.PerfMetricSeries{Id: types.PerfMetricId{CounterId: id.CounterId, Instance: name}},
				Value:            values,
			})
		}
	}
	metric.Value = out
}
