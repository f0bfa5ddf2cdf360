package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// control is the test-facing API: JSON over plain HTTP on its own loopback port.
type control struct {
	perf      *perfManager
	latencyMs int64 // added to every SOAP request
	mu        sync.Mutex
	calls     map[string]int  // SOAP method name -> requests seen
	sessions  map[string]bool // session cookie -> revoked
	// refuse traversal specs with a property path (as a vCenter might): InvalidProperty
	refusePathTraversal int32
}

func newControl(perf *perfManager) *control {
	return &control{perf: perf, calls: map[string]int{}, sessions: map[string]bool{}}
}

var soapMethod = regexp.MustCompile(`<(?:[\w-]+:)?Body[^>]*>\s*<(?:[\w-]+:)?(\w+)`)

// a TraversalSpec whose path is a nested property path (configManager.autoStartManager)
var traversalPath = regexp.MustCompile(`<path>\w+\.\w+`)

// wrap counts SOAP calls by method (tests check "one login across many scrapes") and
// delays each by the configured latency (tests slow the simulator past a timeout).
func (c *control) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := ""
		if r.Method == http.MethodPost && r.Body != nil {
			body, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err == nil {
				if m := soapMethod.FindSubmatch(body); m != nil {
					method = string(m[1])
				}
			}
			revoked := false
			c.mu.Lock()
			c.calls[method]++
			if cookie, err := r.Cookie(soap.SessionCookieName); err == nil {
				revoked = c.sessions[cookie.Value]
				if !revoked {
					c.sessions[cookie.Value] = false
				}
			}
			c.mu.Unlock()
			if revoked && method != "Login" && method != "RetrieveServiceContent" {
				notAuthenticated(w)
				return
			}
			if (method == "RetrievePropertiesEx" || method == "CreateFilter") && atomic.LoadInt32(&c.refusePathTraversal) == 1 &&
				traversalPath.Match(body) {
				invalidProperty(w, "configManager.autoStartManager")
				return
			}
			if method == "CreateCollectorForEvents" && createEventCollector(w, body) {
				return // events.go: vCenter's reading order
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if ms := atomic.LoadInt64(&c.latencyMs); ms > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		out, finish := answerWriter(w, r, method)
		next.ServeHTTP(out, r)
		finish()
	})
}

// notAuthenticated answers as vCenter does to a call on a session it no longer knows
// (expired, terminated, or vCenter restarted).
func notAuthenticated(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>The session is not authenticated.</faultstring>
<detail><NotAuthenticatedFault xmlns="urn:vim25" xsi:type="NotAuthenticated"><object type="Folder">group-d1</object><privilegeId>System.View</privilegeId></NotAuthenticatedFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
}

func invalidProperty(w http.ResponseWriter, name string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring></faultstring>
<detail><InvalidPropertyFault xmlns="urn:vim25" xsi:type="InvalidProperty"><name>`+name+`</name></InvalidPropertyFault></detail>
</soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
}

// faults switches on behaviour of vCenters other than the simulator's.
func (c *control) faults(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefusePathTraversal bool `json:"refuse_path_traversal"`
	}
	if !decode(w, r, &req) {
		return
	}
	var v int32
	if req.RefusePathTraversal {
		v = 1
	}
	atomic.StoreInt32(&c.refusePathTraversal, v)
	reply(w, http.StatusOK, req)
}

// revokeSessions makes every session seen so far invalid, like vCenter expiring them.
func (c *control) revokeSessions(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST")
		return
	}
	c.mu.Lock()
	n := 0
	for key := range c.sessions {
		c.sessions[key] = true
		n++
	}
	c.mu.Unlock()
	reply(w, http.StatusOK, map[string]int{"revoked": n})
}

func (c *control) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/inventory", c.inventory)
	mux.HandleFunc("/calls", c.callCounts)
	mux.HandleFunc("/latency", c.latency)
	mux.HandleFunc("/host", c.host)
	mux.HandleFunc("/vm", c.vm)
	mux.HandleFunc("/perf", c.perfSamples)
	mux.HandleFunc("/sessions/revoke", c.revokeSessions)
	mux.HandleFunc("/faults", c.faults)
	mux.HandleFunc("/updates", c.updates)
	mux.HandleFunc("/bytes", sentBytes)
	mux.HandleFunc("/events", c.postEvent)
	mux.HandleFunc("/compression", setCompression)
	return mux
}

func reply(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...interface{}) {
	reply(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

func decode(w http.ResponseWriter, r *http.Request, v interface{}) bool {
	if r.Method != http.MethodPost {
		fail(w, http.StatusMethodNotAllowed, "POST a JSON object")
		return false
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, "bad request body: %v", err)
		return false
	}
	return true
}

// find returns the entity of the kind whose name or managed object id is key.
func find(kind, key string) mo.Entity {
	for _, e := range simulator.Map.All(kind) {
		if e.Entity().Name == key || e.Reference().Value == key {
			return e
		}
	}
	return nil
}

func (c *control) inventory(w http.ResponseWriter, _ *http.Request) {
	type hostInfo struct {
		Moid, Name, Parent, ConnectionState, AutostartManager string
	}
	type vmInfo struct {
		Moid, Name, Host, HostName, PowerState, Folder string
	}
	var hosts []hostInfo
	for _, e := range simulator.Map.All("HostSystem") {
		h := e.(*simulator.HostSystem)
		simulator.Map.WithLock(h, func() {
			info := hostInfo{Moid: h.Self.Value, Name: h.Name, ConnectionState: string(h.Runtime.ConnectionState)}
			if h.Parent != nil {
				info.Parent = h.Parent.Value
			}
			if h.ConfigManager.AutoStartManager != nil {
				info.AutostartManager = h.ConfigManager.AutoStartManager.Value
			}
			hosts = append(hosts, info)
		})
	}
	var vms []vmInfo
	for _, e := range simulator.Map.All("VirtualMachine") {
		vm := e.(*simulator.VirtualMachine)
		simulator.Map.WithLock(vm, func() {
			info := vmInfo{Moid: vm.Self.Value, Name: vm.Name, PowerState: string(vm.Runtime.PowerState)}
			if vm.Runtime.Host != nil {
				info.Host = vm.Runtime.Host.Value
				if h, ok := simulator.Map.Get(*vm.Runtime.Host).(*simulator.HostSystem); ok {
					info.HostName = h.Name
				}
			}
			if vm.Parent != nil {
				info.Folder = vm.Parent.Value
			}
			vms = append(vms, info)
		})
	}
	reply(w, http.StatusOK, map[string]interface{}{"hosts": hosts, "vms": vms})
}

func (c *control) callCounts(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reply(w, http.StatusOK, c.calls)
}

func (c *control) latency(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Ms int64 `json:"ms"`
	}
	if decode(w, r, &req) {
		atomic.StoreInt64(&c.latencyMs, req.Ms)
		reply(w, http.StatusOK, req)
	}
}

var connectionStates = map[string]types.HostSystemConnectionState{
	"connected":     types.HostSystemConnectionStateConnected,
	"disconnected":  types.HostSystemConnectionStateDisconnected,
	"notResponding": types.HostSystemConnectionStateNotResponding,
}

// host sets a host's connection state (0.24 lacks the Disconnect/Reconnect tasks; a
// not responding host cannot be made any other way), boot time or maintenance mode. As
// vCenter does, the VMs of a host that is not connected take its connection state.
func (c *control) host(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Host            string   `json:"host"`
		ConnectionState *string  `json:"connection_state"`
		BootTime        *float64 `json:"boot_time"` // unix seconds
		Maintenance     *bool    `json:"maintenance"`
	}
	if !decode(w, r, &req) {
		return
	}
	entity := find("HostSystem", req.Host)
	if entity == nil {
		fail(w, http.StatusNotFound, "no host named %q", req.Host)
		return
	}
	host := entity.(*simulator.HostSystem)
	var changes []types.PropertyChange
	if req.ConnectionState != nil {
		state, ok := connectionStates[*req.ConnectionState]
		if !ok {
			fail(w, http.StatusBadRequest, "connection_state must be connected, disconnected or notResponding")
			return
		}
		changes = append(changes, types.PropertyChange{Name: "runtime.connectionState", Val: state})
		// A VM has no notResponding state: vCenter shows VMs of an unreachable host as
		// disconnected.
		vmState := types.VirtualMachineConnectionStateConnected
		if state != types.HostSystemConnectionStateConnected {
			vmState = types.VirtualMachineConnectionStateDisconnected
		}
		for _, ref := range host.Vm {
			if vm, ok := simulator.Map.Get(ref).(*simulator.VirtualMachine); ok {
				simulator.Map.WithLock(vm, func() {
					simulator.Map.Update(vm, []types.PropertyChange{
						{Name: "runtime.connectionState", Val: vmState},
						{Name: "summary.runtime.connectionState", Val: vmState},
					})
				})
			}
		}
	}
	if req.BootTime != nil {
		sec := int64(*req.BootTime)
		boot := time.Unix(sec, int64((*req.BootTime-float64(sec))*1e9)).UTC()
		changes = append(changes, types.PropertyChange{Name: "runtime.bootTime", Val: boot})
	}
	if req.Maintenance != nil {
		changes = append(changes, types.PropertyChange{Name: "runtime.inMaintenanceMode", Val: *req.Maintenance})
	}
	// summary.runtime points at runtime for hosts, so both paths see the change.
	simulator.Map.WithLock(host, func() { simulator.Map.Update(host, changes) })
	reply(w, http.StatusOK, map[string]string{"host": host.Self.Value})
}

// vm sets what pyvmomi cannot change on the simulator: VMware Tools' running state, or a
// name regardless of vCenter's per-folder uniqueness check (rename_unchecked).
func (c *control) vm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		VM              string  `json:"vm"`
		ToolsRunning    *bool   `json:"tools_running"`
		RenameUnchecked *string `json:"rename_unchecked"`
	}
	if !decode(w, r, &req) {
		return
	}
	entity := find("VirtualMachine", req.VM)
	if entity == nil {
		fail(w, http.StatusNotFound, "no VM named %q", req.VM)
		return
	}
	vm := entity.(*simulator.VirtualMachine)
	var changes []types.PropertyChange
	if req.ToolsRunning != nil {
		// Tools installed from now on (the model's VMs have none), running or not.
		status := types.VirtualMachineToolsRunningStatusGuestToolsNotRunning
		tools := types.VirtualMachineToolsStatusToolsNotRunning
		if *req.ToolsRunning {
			status = types.VirtualMachineToolsRunningStatusGuestToolsRunning
			tools = types.VirtualMachineToolsStatusToolsOk
		}
		changes = append(changes,
			types.PropertyChange{Name: "guest.toolsRunningStatus", Val: string(status)},
			types.PropertyChange{Name: "guest.toolsStatus", Val: tools},
			types.PropertyChange{Name: "summary.guest.toolsRunningStatus", Val: string(status)},
			types.PropertyChange{Name: "summary.guest.toolsStatus", Val: tools})
	}
	if req.RenameUnchecked != nil {
		changes = append(changes, types.PropertyChange{Name: "name", Val: *req.RenameUnchecked})
	}
	simulator.Map.WithLock(vm, func() { simulator.Map.Update(vm, changes) })
	reply(w, http.StatusOK, map[string]string{"vm": vm.Self.Value})
}

// perfSamples injects a value for (entity, counter, instance) into every QueryPerf
// answer (POST), or forgets every injected value (DELETE).
func (c *control) perfSamples(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		c.perf.clear()
		reply(w, http.StatusOK, map[string]string{})
		return
	}
	var req struct {
		Entity   string `json:"entity"`
		Kind     string `json:"kind"` // HostSystem or VirtualMachine (default: either)
		Counter  string `json:"counter"`
		Instance string `json:"instance"`
		Value    int64  `json:"value"`
	}
	if !decode(w, r, &req) {
		return
	}
	var entity mo.Entity
	for _, kind := range []string{"HostSystem", "VirtualMachine"} {
		if req.Kind == "" || req.Kind == kind {
			if entity = find(kind, req.Entity); entity != nil {
				break
			}
		}
	}
	if entity == nil {
		fail(w, http.StatusNotFound, "no host or VM named %q", req.Entity)
		return
	}
	if err := c.perf.inject(entity.Reference().Value, req.Counter, req.Instance, req.Value); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	reply(w, http.StatusOK, map[string]string{"entity": entity.Reference().Value})
}
