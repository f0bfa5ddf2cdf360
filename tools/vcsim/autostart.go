package main

import (
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// autoStartManager is a host's HostAutoStartManager. Stock 0.24 points every host's
// configManager.autoStartManager at an object that does not exist. Its config is read
// through the property collector like any managed object, and mirrored into the host's
// config.autoStart as ESXi does.
type autoStartManager struct {
	mo.HostAutoStartManager
	host *simulator.HostSystem
}

// ESXi's defaults for a fresh host: autostart off, 120 s delays.
func defaultAutoStartConfig() types.HostAutoStartManagerConfig {
	return types.HostAutoStartManagerConfig{
		Defaults: &types.AutoStartDefaults{
			Enabled:          types.NewBool(false),
			StartDelay:       120,
			StopDelay:        120,
			WaitForHeartbeat: types.NewBool(false),
			StopAction:       "PowerOff",
		},
	}
}

func addAutoStartManagers() {
	for _, entity := range simulator.Map.All("HostSystem") {
		host := entity.(*simulator.HostSystem)
		manager := &autoStartManager{host: host}
		manager.Self = types.ManagedObjectReference{Type: "HostAutoStartManager", Value: "autostart-" + host.Self.Value}
		manager.Config = defaultAutoStartConfig()
		simulator.Map.Put(manager)
		ref := manager.Self
		simulator.Map.WithLock(host, func() {
			host.ConfigManager.AutoStartManager = &ref
			mirror := manager.copyConfig()
			host.Config.AutoStart = &mirror
		})
	}
}

func (m *autoStartManager) copyConfig() types.HostAutoStartManagerConfig {
	defaults := *m.Config.Defaults
	return types.HostAutoStartManagerConfig{
		Defaults:  &defaults,
		PowerInfo: append([]types.AutoStartPowerInfo(nil), m.Config.PowerInfo...),
	}
}

// ReconfigureAutostart merges the spec as ESXi does: defaults fields that are set replace
// the current ones; each powerInfo entry replaces the one for the same VM or is added.
func (m *autoStartManager) ReconfigureAutostart(ctx *simulator.Context, req *types.ReconfigureAutostart) soap.HasFault {
	body := new(methods.ReconfigureAutostartBody)
	for _, info := range req.Spec.PowerInfo {
		vm, ok := simulator.Map.Get(info.Key).(*simulator.VirtualMachine)
		if !ok || vm.Runtime.Host == nil || *vm.Runtime.Host != m.host.Self {
			body.Fault_ = simulator.Fault("powerInfo names a VM that is not on this host",
				&types.InvalidArgument{InvalidProperty: "powerInfo.key"})
			return body
		}
		switch info.StartAction {
		case "none", "powerOn", "systemDefault", "None", "PowerOn", "SystemDefault":
		default:
			body.Fault_ = simulator.Fault("unknown startAction "+info.StartAction,
				&types.InvalidArgument{InvalidProperty: "powerInfo.startAction"})
			return body
		}
	}
	if d := req.Spec.Defaults; d != nil {
		current := m.Config.Defaults
		if d.Enabled != nil {
			current.Enabled = types.NewBool(*d.Enabled)
		}
		// int fields without a value arrive as 0: ESXi treats them as "unchanged" too.
		if d.StartDelay != 0 {
			current.StartDelay = d.StartDelay
		}
		if d.StopDelay != 0 {
			current.StopDelay = d.StopDelay
		}
		if d.WaitForHeartbeat != nil {
			current.WaitForHeartbeat = types.NewBool(*d.WaitForHeartbeat)
		}
		if d.StopAction != "" {
			current.StopAction = d.StopAction
		}
	}
	for _, info := range req.Spec.PowerInfo {
		replaced := false
		for i := range m.Config.PowerInfo {
			if m.Config.PowerInfo[i].Key == info.Key {
				m.Config.PowerInfo[i] = info
				replaced = true
			}
		}
		if !replaced {
			m.Config.PowerInfo = append(m.Config.PowerInfo, info)
		}
	}
	mirror := m.copyConfig()
	simulator.Map.WithLock(m.host, func() { m.host.Config.AutoStart = &mirror })
	// Tell property collectors (WaitForUpdatesEx) that both copies changed.
	simulator.Map.Update(m, nil)
	simulator.Map.Update(m.host, nil)
	body.Res = new(types.ReconfigureAutostartResponse)
	return body
}
