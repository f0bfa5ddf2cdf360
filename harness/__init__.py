"""The real-peer harness shared by tests/ and benchmarks/: each module starts or imitates one
peer (libvirtd, Ceph, the vCenter simulator, Prometheus, Alertmanager, tgt, buildah, the
exporter itself) or builds the inputs one reads. Not part of the exporter's distribution."""
