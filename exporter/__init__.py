"""hypervisor-exporter: Prometheus metrics for vSphere, libvirt/KVM, Ceph and iSCSI."""

__version__ = "0.1.0"
