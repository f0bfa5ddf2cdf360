package main

// The PropertyCollector's update protocol (CreateFilter + WaitForUpdatesEx) as vCenter runs
// it. The 0.24 library has the calls but not their contract: its version string never
// changes, maxObjectUpdates and truncation are ignored, a zero maxWaitSeconds still waits a
// 250 ms tick, a change to a property read through another path (a host's runtime.bootTime
// read as summary.runtime.bootTime) or to a field changed in place is never reported, and
// a modified object costs a re-read of every object of every filter. Here each filter keeps
// what the client was last sent (a fingerprint per property) and which objects changed
// since (registry callbacks); an update set is the difference, computed for the changed
// objects only, with objects entering and leaving the filter when the inventory grows or
// shrinks. Versions count up; a stale one is refused with InvalidCollectorVersion.
//
// Control API: POST /updates {"max_object_updates": N} truncates every update set to N
// objects (vCenter truncates at its own discretion too), {"forget_versions": true} makes
// every version handed out so far stale, {"destroy_collectors": true} destroys every
// collector made by CreatePropertyCollector (a client then gets ManagedObjectNotFound).

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/vpx"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// filterState is what one filter's client holds, and what changed since.
type filterState struct {
	sent    map[types.ManagedObjectReference]map[string]string // object -> property -> fingerprint
	dirty   map[types.ManagedObjectReference]bool              // guarded by tracker.mu
	rescan  bool                                               // guarded by tracker.mu
	members map[types.ManagedObjectReference]bool
}

type pendingUpdate struct {
	filter types.ManagedObjectReference
	update types.ObjectUpdate
}

type collectorState struct {
	mu        sync.Mutex // one WaitForUpdatesEx at a time per collector
	version   int64
	filters   map[types.ManagedObjectReference]*filterState
	pending   []pendingUpdate // the rest of a truncated update set
	cancelled bool
}

// tracker receives the registry's object callbacks and fans them out to every filter.
type tracker struct {
	self types.ManagedObjectReference

	mu         sync.Mutex
	filters    map[*filterState]bool
	collectors map[*propertyCollector]*simulator.Session // made by CreatePropertyCollector
	states     map[*propertyCollector]*collectorState
	maxUpdates int32
}

var changes = &tracker{
	self:       types.ManagedObjectReference{Type: "ChangeTracker", Value: "change-tracker"},
	filters:    map[*filterState]bool{},
	collectors: map[*propertyCollector]*simulator.Session{},
	states:     map[*propertyCollector]*collectorState{},
}

// Objects whose creation or removal cannot change what an inventory filter selects.
var notInventory = map[string]bool{
	"Task": true, "PropertyFilter": true, "PropertyCollector": true, "ContainerView": true,
	"ListView": true, "EventHistoryCollector": true, "TaskHistoryCollector": true,
	"ChangeTracker": true,
}

// Objects the library changes without telling the registry (a datastore's free space
// follows its directory and the disks created in it): compared on every call.
var changedInPlace = map[string]bool{"Datastore": true}

func (t *tracker) Reference() types.ManagedObjectReference { return t.self }

func (t *tracker) PutObject(o mo.Reference) { t.touch(o.Reference(), true) }

func (t *tracker) UpdateObject(o mo.Reference, _ []types.PropertyChange) {
	t.touch(o.Reference(), false)
}

func (t *tracker) RemoveObject(ref types.ManagedObjectReference) { t.touch(ref, true) }

// touch runs inside registry calls, possibly under an object's lock: it only takes t.mu.
func (t *tracker) touch(ref types.ManagedObjectReference, membership bool) {
	if notInventory[ref.Type] {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for f := range t.filters {
		f.dirty[ref] = true
		if membership {
			f.rescan = true
		}
	}
}

// drain hands over what changed for a filter since the last call.
func (t *tracker) drain(f *filterState) (map[types.ManagedObjectReference]bool, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	dirty, rescan := f.dirty, f.rescan
	f.dirty, f.rescan = map[types.ManagedObjectReference]bool{}, false
	return dirty, rescan
}

func (t *tracker) newFilter() *filterState {
	f := &filterState{
		sent:   map[types.ManagedObjectReference]map[string]string{},
		dirty:  map[types.ManagedObjectReference]bool{},
		rescan: true,
	}
	t.mu.Lock()
	t.filters[f] = true
	t.mu.Unlock()
	return f
}

func (t *tracker) dropFilter(f *filterState) {
	t.mu.Lock()
	delete(t.filters, f)
	t.mu.Unlock()
}

// propertyCollector is the library's collector with vCenter's update protocol. Per-session
// copies of the singleton are made zero-valued by reflection, so its state lives in the
// tracker, keyed by collector.
type propertyCollector struct {
	simulator.PropertyCollector
}

func installPropertyCollector() {
	pc := &propertyCollector{}
	pc.Self = vpx.ServiceContent.PropertyCollector
	simulator.Map.Put(pc)
	simulator.Map.AddHandler(changes)
}

func (pc *propertyCollector) state() *collectorState {
	changes.mu.Lock()
	defer changes.mu.Unlock()
	st := changes.states[pc]
	if st == nil {
		st = &collectorState{filters: map[types.ManagedObjectReference]*filterState{}}
		changes.states[pc] = st
	}
	return st
}

func (pc *propertyCollector) CreatePropertyCollector(ctx *simulator.Context, _ *types.CreatePropertyCollector) soap.HasFault {
	cpc := &propertyCollector{}
	cpc.Self.Type = "PropertyCollector"
	ref := ctx.Session.Put(cpc).Reference()
	changes.mu.Lock()
	changes.collectors[cpc] = ctx.Session
	changes.mu.Unlock()
	return &methods.CreatePropertyCollectorBody{Res: &types.CreatePropertyCollectorResponse{Returnval: ref}}
}

func (pc *propertyCollector) DestroyPropertyCollector(ctx *simulator.Context, req *types.DestroyPropertyCollector) soap.HasFault {
	pc.forget()
	return pc.PropertyCollector.DestroyPropertyCollector(ctx, req)
}

// forget drops the collector's state and its filters' change tracking.
func (pc *propertyCollector) forget() {
	changes.mu.Lock()
	st := changes.states[pc]
	delete(changes.states, pc)
	delete(changes.collectors, pc)
	if st != nil {
		for _, f := range st.filters {
			delete(changes.filters, f)
		}
	}
	changes.mu.Unlock()
}

func (pc *propertyCollector) CancelWaitForUpdates(_ *types.CancelWaitForUpdates) soap.HasFault {
	st := pc.state()
	changes.mu.Lock()
	st.cancelled = true
	changes.mu.Unlock()
	return &methods.CancelWaitForUpdatesBody{Res: new(types.CancelWaitForUpdatesResponse)}
}

func (pc *propertyCollector) WaitForUpdatesEx(ctx *simulator.Context, r *types.WaitForUpdatesEx) soap.HasFault {
	body := &methods.WaitForUpdatesExBody{}
	st := pc.state()
	st.mu.Lock()
	defer st.mu.Unlock()
	if r.Version != "" && r.Version != strconv.FormatInt(st.version, 10) {
		body.Fault_ = simulator.Fault("version "+r.Version+" is not this collector's current version",
			&types.InvalidCollectorVersion{})
		return body
	}
	limit := int32(0)
	wait := time.Duration(-1) // no maxWaitSeconds: wait until something changes
	if o := r.Options; o != nil {
		limit = o.MaxObjectUpdates
		if o.MaxWaitSeconds != nil {
			wait = time.Duration(*o.MaxWaitSeconds) * time.Second
		}
	}
	changes.mu.Lock()
	if forced := changes.maxUpdates; forced > 0 && (limit <= 0 || forced < limit) {
		limit = forced
	}
	st.cancelled = false
	changes.mu.Unlock()
	if r.Version == "" {
		st.pending = nil // the initial version: everything again, from scratch
		for ref, f := range st.filters {
			changes.dropFilter(f)
			delete(st.filters, ref)
		}
	}
	deadline := time.Now().Add(wait)
	for {
		if len(st.pending) == 0 {
			pending, fault := pc.compute(ctx, st)
			if fault != nil {
				body.Fault_ = simulator.Fault("", fault)
				return body
			}
			st.pending = pending
		}
		if len(st.pending) > 0 || r.Version == "" {
			st.version++
			body.Res = &types.WaitForUpdatesExResponse{Returnval: st.take(limit)}
			return body
		}
		changes.mu.Lock()
		cancelled := st.cancelled
		changes.mu.Unlock()
		if cancelled {
			body.Fault_ = simulator.Fault("", new(types.RequestCanceled))
			return body
		}
		if wait >= 0 && !time.Now().Before(deadline) {
			body.Res = &types.WaitForUpdatesExResponse{} // nothing changed: no update set
			return body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// take returns up to limit object updates (all for limit <= 0) as an update set.
func (st *collectorState) take(limit int32) *types.UpdateSet {
	n := len(st.pending)
	if limit > 0 && int(limit) < n {
		n = int(limit)
	}
	set := &types.UpdateSet{Version: strconv.FormatInt(st.version, 10)}
	for _, p := range st.pending[:n] {
		if k := len(set.FilterSet); k == 0 || set.FilterSet[k-1].Filter != p.filter {
			set.FilterSet = append(set.FilterSet, types.PropertyFilterUpdate{Filter: p.filter})
		}
		last := &set.FilterSet[len(set.FilterSet)-1]
		last.ObjectSet = append(last.ObjectSet, p.update)
	}
	st.pending = st.pending[n:]
	if len(st.pending) > 0 {
		set.Truncated = types.NewBool(true)
	}
	return set
}

// compute diffs every filter of the collector against what its client holds.
func (pc *propertyCollector) compute(ctx *simulator.Context, st *collectorState) ([]pendingUpdate, types.BaseMethodFault) {
	var out []pendingUpdate
	live := map[types.ManagedObjectReference]bool{}
	for _, ref := range pc.Filter {
		live[ref] = true
		filter, ok := ctx.Session.Get(ref).(*simulator.PropertyFilter)
		if !ok {
			continue
		}
		f := st.filters[ref]
		if f == nil {
			f = changes.newFilter()
			st.filters[ref] = f
		}
		updates, fault := pc.diff(ctx, filter.Spec, f)
		if fault != nil {
			return nil, fault
		}
		for _, u := range updates {
			out = append(out, pendingUpdate{filter: ref, update: u})
		}
	}
	for ref, f := range st.filters { // destroyed filters
		if !live[ref] {
			changes.dropFilter(f)
			delete(st.filters, ref)
		}
	}
	return out, nil
}

func (pc *propertyCollector) retrieve(ctx *simulator.Context, spec types.PropertyFilterSpec) ([]types.ObjectContent, types.BaseMethodFault) {
	res := pc.PropertyCollector.RetrievePropertiesEx(ctx, &types.RetrievePropertiesEx{
		This: pc.Self, SpecSet: []types.PropertyFilterSpec{spec},
	})
	if f := res.Fault(); f != nil {
		if fault, ok := f.VimFault().(types.BaseMethodFault); ok {
			return nil, fault
		}
		return nil, &types.InvalidArgument{}
	}
	return res.(*methods.RetrievePropertiesExBody).Res.Returnval.Objects, nil
}

func (pc *propertyCollector) diff(ctx *simulator.Context, spec types.PropertyFilterSpec, f *filterState) ([]types.ObjectUpdate, types.BaseMethodFault) {
	dirty, rescan := changes.drain(f)
	if rescan || f.members == nil {
		// Which objects the filter selects now: its traversal with no properties.
		bare := types.PropertyFilterSpec{ObjectSet: spec.ObjectSet}
		for _, p := range spec.PropSet {
			bare.PropSet = append(bare.PropSet, types.PropertySpec{Type: p.Type, All: types.NewBool(false)})
		}
		objects, fault := pc.retrieve(ctx, bare)
		if fault != nil {
			return nil, fault
		}
		f.members = make(map[types.ManagedObjectReference]bool, len(objects))
		for _, o := range objects {
			f.members[o.Obj] = true
		}
	}
	for ref := range f.members {
		if changedInPlace[ref.Type] {
			dirty[ref] = true
		}
	}
	var updates []types.ObjectUpdate
	var leaving []types.ManagedObjectReference
	for ref := range f.sent {
		if !f.members[ref] {
			leaving = append(leaving, ref)
		}
	}
	sortRefs(leaving)
	for _, ref := range leaving {
		delete(f.sent, ref)
		updates = append(updates, types.ObjectUpdate{Kind: types.ObjectUpdateKindLeave, Obj: ref})
	}
	var read []types.ManagedObjectReference
	for ref := range f.members {
		if _, known := f.sent[ref]; !known || dirty[ref] {
			read = append(read, ref)
		}
	}
	if len(read) == 0 {
		return updates, nil
	}
	sortRefs(read)
	direct := types.PropertyFilterSpec{PropSet: spec.PropSet}
	for _, ref := range read {
		direct.ObjectSet = append(direct.ObjectSet, types.ObjectSpec{Obj: ref, Skip: types.NewBool(false)})
	}
	objects, fault := pc.retrieve(ctx, direct)
	if fault != nil {
		return nil, fault
	}
	for _, o := range objects {
		now := map[string]types.AnyType{}
		for _, p := range o.PropSet {
			now[p.Name] = p.Val
		}
		before, known := f.sent[o.Obj]
		kind := types.ObjectUpdateKindModify
		if !known {
			kind = types.ObjectUpdateKindEnter
			before = map[string]string{}
		}
		after := make(map[string]string, len(now))
		names := make([]string, 0, len(now)+len(before))
		for name, val := range now {
			after[name] = fingerprint(val)
			names = append(names, name)
		}
		for name := range before {
			if _, still := now[name]; !still {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		update := types.ObjectUpdate{Kind: kind, Obj: o.Obj}
		for _, name := range names {
			old, had := before[name]
			cur, has := after[name]
			if had == has && old == cur {
				continue
			}
			// An unset property is an assignment without a value, as vCenter sends it.
			update.ChangeSet = append(update.ChangeSet, types.PropertyChange{
				Name: name, Op: types.PropertyChangeOpAssign, Val: now[name],
			})
		}
		f.sent[o.Obj] = after
		if kind == types.ObjectUpdateKindEnter || len(update.ChangeSet) > 0 {
			updates = append(updates, update)
		}
	}
	return updates, nil
}

// fingerprint is a value's content: values share slices and pointers with the live
// object, so keeping the value itself would see later changes as no change.
func fingerprint(val types.AnyType) string {
	b, err := json.Marshal(val)
	if err != nil {
		return reflect.TypeOf(val).String() + "?" + err.Error()
	}
	return reflect.TypeOf(val).String() + string(b)
}

func sortRefs(refs []types.ManagedObjectReference) {
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].Type != refs[j].Type {
			return refs[i].Type < refs[j].Type
		}
		return refs[i].Value < refs[j].Value
	})
}

// updatesControl is POST /updates (see the top of this file).
func (c *control) updates(w http.ResponseWriter, r *http.Request) {
	var req struct {
		MaxObjectUpdates  *int32 `json:"max_object_updates"`
		ForgetVersions    bool   `json:"forget_versions"`
		DestroyCollectors bool   `json:"destroy_collectors"`
	}
	if !decode(w, r, &req) {
		return
	}
	changes.mu.Lock()
	if req.MaxObjectUpdates != nil {
		changes.maxUpdates = *req.MaxObjectUpdates
	}
	states := make([]*collectorState, 0, len(changes.states))
	for _, st := range changes.states {
		states = append(states, st)
	}
	destroy := map[*propertyCollector]*simulator.Session{}
	if req.DestroyCollectors {
		for pc, session := range changes.collectors {
			destroy[pc] = session
		}
	}
	changes.mu.Unlock()
	if req.ForgetVersions {
		for _, st := range states {
			st.mu.Lock()
			st.version += 1000
			st.pending = nil
			st.mu.Unlock()
		}
	}
	for pc, session := range destroy {
		pc.forget()
		session.Remove(pc.Self)
	}
	reply(w, http.StatusOK, map[string]interface{}{
		"collectors_destroyed": len(destroy), "collectors": len(states),
	})
}
