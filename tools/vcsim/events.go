package main

// vCenter's event history as a client tails it: one EventHistoryCollector, ReadNextEvents
// again and again, each call returning the events posted since the last one (oldest
// first), nothing when nothing happened. The 0.24 library's collector reads a newest-first
// ring by position instead: the first read gives the newest events first, and once read to
// the end a new event either never shows (a full page) or an old one comes back. It also
// ignores the filter's time and matches eventTypeId against Go type names only, never an
// EventEx's or ExtendedEvent's eventTypeId. So CreateCollectorForEvents is answered here
// with a collector that keeps the key of the last event it returned and reads the event
// manager's history (its latest 1,000 events) on each call.
//
// Events that carry a fault cannot be posted over SOAP (the library's XML decoder rejects
// them), so the control API posts them from the simulator side, as vCenter records them:
//
//   POST /events {"vm": NAME|MOID, "type": "VmFailedToPowerOnEvent", "message": "File
//     [ds1] web/web.vmdk was not found", "file": "[ds1] web/web.vmdk"}
//     a failed power-on whose reason is a FileNotFound fault with that localized message;
//   {"vm": ..., "type": "VmFailoverFailed" | "VmMaxRestartCountReached", "message": ...}
//     HA's failover events (VmFailoverFailed carries the message as its reason's fault);
//   {"vm": ..., "type": "com.vmware.vc.HA.FailedRestartAfterIsolationEvent", "message": ...}
//     any other id: an EventEx with that eventTypeId and message, as HA posts its own.
//   The answer is {"key": N}, the event's key.

import (
	"fmt"
	"net/http"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

const historySize = 1000 // what the library's event manager keeps

type tailCollector struct {
	mo.EventHistoryCollector

	mu      sync.Mutex
	spec    types.EventFilterSpec
	lastKey int32
	size    int
}

var collectorSeq struct {
	sync.Mutex
	n int
}

// createEventCollector answers CreateCollectorForEvents (the SOAP request in body) with a
// tailCollector registered in the inventory, or returns false to leave it to the library.
func createEventCollector(w http.ResponseWriter, body []byte) bool {
	method, err := simulator.UnmarshalBody(types.TypeFunc(), body)
	if err != nil {
		return false
	}
	req, ok := method.Body.(*types.CreateCollectorForEvents)
	if !ok {
		return false
	}
	size := int(req.Filter.MaxCount)
	if size <= 0 {
		size = 10
	}
	collectorSeq.Lock()
	collectorSeq.n++
	id := collectorSeq.n
	collectorSeq.Unlock()
	c := &tailCollector{spec: req.Filter, size: size}
	c.Self = types.ManagedObjectReference{Type: "EventHistoryCollector", Value: fmt.Sprintf("event-collector-%d", id)}
	c.Filter = req.Filter
	// Read from here on: a new collector returns the history in its filter first.
	simulator.Map.Put(c)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><CreateCollectorForEventsResponse xmlns="urn:vim25"><returnval type="EventHistoryCollector">%s</returnval></CreateCollectorForEventsResponse></soapenv:Body></soapenv:Envelope>`, c.Self.Value)
	return true
}

// history is the event manager's latest events, oldest first.
func history() []types.BaseEvent {
	em := simulator.Map.EventManager()
	var events []types.BaseEvent
	simulator.Map.WithLock(em, func() {
		ctx := &simulator.Context{Session: &simulator.Session{}}
		res := em.QueryEvents(ctx, &types.QueryEvents{Filter: types.EventFilterSpec{MaxCount: historySize}})
		if body, ok := res.(*methods.QueryEventsBody); ok && body.Res != nil {
			events = body.Res.Returnval
		}
	})
	sort.Slice(events, func(i, j int) bool { return events[i].GetEvent().Key < events[j].GetEvent().Key })
	return events
}

// typeMatches as vCenter matches eventTypeId: the event's class or one it extends, or an
// EventEx's or ExtendedEvent's own id.
func typeMatches(event types.BaseEvent, ids []string) bool {
	if len(ids) == 0 {
		return true
	}
	names := map[string]bool{}
	kind := reflect.ValueOf(event).Elem().Type()
	names[kind.Name()] = true
	for t := kind; t.Kind() == reflect.Struct && t.NumField() > 0 && t.Field(0).Anonymous; t = t.Field(0).Type {
		names[t.Field(0).Type.Name()] = true
	}
	switch e := event.(type) {
	case *types.EventEx:
		names[e.EventTypeId] = true
	case *types.ExtendedEvent:
		names[e.EventTypeId] = true
	}
	for _, id := range ids {
		if names[id] {
			return true
		}
	}
	return false
}

func (c *tailCollector) matches(event types.BaseEvent) bool {
	e := event.GetEvent()
	if c.spec.Time != nil {
		if c.spec.Time.BeginTime != nil && e.CreatedTime.Before(*c.spec.Time.BeginTime) {
			return false
		}
		if c.spec.Time.EndTime != nil && e.CreatedTime.After(*c.spec.Time.EndTime) {
			return false
		}
	}
	return typeMatches(event, c.spec.EventTypeId)
}

func (c *tailCollector) ReadNextEvents(ctx *simulator.Context, req *types.ReadNextEvents) soap.HasFault {
	body := &methods.ReadNextEventsBody{}
	if req.MaxCount <= 0 {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "maxCount"})
		return body
	}
	body.Res = new(types.ReadNextEventsResponse)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, event := range history() {
		if len(body.Res.Returnval) == int(req.MaxCount) {
			break
		}
		if event.GetEvent().Key > c.lastKey && c.matches(event) {
			body.Res.Returnval = append(body.Res.Returnval, event)
			c.lastKey = event.GetEvent().Key
		}
	}
	return body
}

func (c *tailCollector) ReadPreviousEvents(ctx *simulator.Context, req *types.ReadPreviousEvents) soap.HasFault {
	return &methods.ReadPreviousEventsBody{Res: new(types.ReadPreviousEventsResponse)}
}

func (c *tailCollector) ResetCollector(ctx *simulator.Context, req *types.ResetCollector) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	if events := history(); len(events) > 0 {
		c.lastKey = events[len(events)-1].GetEvent().Key
	}
	return &methods.ResetCollectorBody{Res: new(types.ResetCollectorResponse)}
}

func (c *tailCollector) RewindCollector(ctx *simulator.Context, req *types.RewindCollector) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastKey = 0
	return &methods.RewindCollectorBody{Res: new(types.RewindCollectorResponse)}
}

func (c *tailCollector) SetCollectorPageSize(ctx *simulator.Context, req *types.SetCollectorPageSize) soap.HasFault {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.size = int(req.MaxCount)
	return &methods.SetCollectorPageSizeBody{Res: new(types.SetCollectorPageSizeResponse)}
}

func (c *tailCollector) DestroyCollector(ctx *simulator.Context, req *types.DestroyCollector) soap.HasFault {
	simulator.Map.Remove(c.Self)
	return &methods.DestroyCollectorBody{Res: new(types.DestroyCollectorResponse)}
}

// postEvent posts an event about a VM from the simulator side (see the top of this file).
func (c *control) postEvent(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VM      string `json:"vm"`
		Type    string `json:"type"`
		Message string `json:"message"`
		File    string `json:"file"`
	}
	if !decode(w, r, &req) {
		return
	}
	entity := find("VirtualMachine", req.VM)
	if entity == nil {
		fail(w, http.StatusNotFound, "no VM %q", req.VM)
		return
	}
	vm := entity.(*simulator.VirtualMachine)
	var base types.VmEvent
	simulator.Map.WithLock(vm, func() {
		base.Vm = &types.VmEventArgument{EntityEventArgument: types.EntityEventArgument{Name: vm.Name}, Vm: vm.Self}
		if vm.Runtime.Host != nil {
			if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
				base.Host = &types.HostEventArgument{EntityEventArgument: types.EntityEventArgument{Name: h.Name}, Host: h.Self}
			}
		}
	})
	reason := types.LocalizedMethodFault{
		Fault:            &types.FileNotFound{FileFault: types.FileFault{File: req.File}},
		LocalizedMessage: req.Message,
	}
	var event types.BaseEvent
	switch req.Type {
	case "VmFailedToPowerOnEvent":
		event = &types.VmFailedToPowerOnEvent{VmEvent: base, Reason: reason}
	case "VmFailoverFailed":
		event = &types.VmFailoverFailed{VmEvent: base, Reason: &reason}
	case "VmMaxRestartCountReached":
		event = &types.VmMaxRestartCountReached{VmEvent: base}
	case "":
		fail(w, http.StatusBadRequest, "type is required")
		return
	default:
		event = &types.EventEx{Event: base.Event, EventTypeId: req.Type, Message: req.Message,
			ObjectId: vm.Self.Value, ObjectType: "VirtualMachine", ObjectName: vm.Name}
	}
	em := simulator.Map.EventManager()
	ctx := &simulator.Context{Session: &simulator.Session{UserSession: types.UserSession{UserName: "vpxd-extension"}}}
	simulator.Map.WithLock(em, func() { em.PostEvent(ctx, &types.PostEvent{EventToPost: event}) })
	e := event.GetEvent()
	if req.Type != "VmFailedToPowerOnEvent" && req.Type != "VmFailoverFailed" && e.FullFormattedMessage == "" {
		e.FullFormattedMessage = req.Message
	}
	reply(w, http.StatusOK, map[string]interface{}{"key": e.Key, "created": e.CreatedTime.Format(time.RFC3339Nano)})
}
