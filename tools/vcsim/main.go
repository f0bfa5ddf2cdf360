// Command vcsim is the project's vCenter simulator: govmomi's simulator library (Debian's
// golang-github-vmware-govmomi-dev 0.24) with what the tests need and the library lacks:
// a HostAutoStartManager per host, perf-sample injection, and a small JSON control API to
// set host connection state and boot time, VMware Tools state, duplicate VM names and SOAP
// latency. It serves vSphere's SOAP API over TLS on 127.0.0.1 with a certificate it
// generates and writes to -cert-file, so clients keep TLS verification on.
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/vmware/govmomi/simulator"
)

type options struct {
	datacenters, clusters, clusterHosts, standaloneHosts, vms, pools, datastores int
	listen, control, username, password, certFile, stateFile                     string
}

func main() {
	var o options
	flag.IntVar(&o.datacenters, "dc", 1, "datacenters")
	flag.IntVar(&o.clusters, "cluster", 1, "clusters per datacenter")
	flag.IntVar(&o.clusterHosts, "host", 3, "hosts per cluster")
	flag.IntVar(&o.standaloneHosts, "standalone-host", 0, "standalone hosts per datacenter")
	flag.IntVar(&o.vms, "vm", 2, "VMs per standalone host and per cluster resource pool (spread over the cluster's hosts)")
	flag.IntVar(&o.pools, "pool", 0, "child resource pools per cluster (they hold no VMs)")
	flag.IntVar(&o.datastores, "ds", 1, "datastores, mounted on every host")
	flag.StringVar(&o.listen, "listen", "127.0.0.1:0", "address of the SOAP API (port 0: a free port)")
	flag.StringVar(&o.control, "control", "127.0.0.1:0", "address of the control API (plain HTTP, JSON)")
	flag.StringVar(&o.username, "username", "user", "the one username Login accepts")
	flag.StringVar(&o.password, "password", "pass", "its password")
	flag.StringVar(&o.certFile, "cert-file", "", "write the generated TLS certificate (PEM) here (required)")
	flag.StringVar(&o.stateFile, "state-file", "", "write {url, control, cert_file, ...} as JSON here once serving")
	flag.Parse()
	if o.certFile == "" {
		log.Fatal("-cert-file is required: clients verify the simulator's certificate with it")
	}
	if err := run(o); err != nil {
		log.Fatal(err)
	}
}

func run(o options) error {
	started := time.Now()
	model := simulator.VPX()
	model.Datacenter = o.datacenters
	model.Cluster = o.clusters
	model.ClusterHost = o.clusterHosts
	model.Host = o.standaloneHosts
	model.Machine = o.vms
	model.Pool = o.pools
	model.Datastore = o.datastores
	if err := model.Create(); err != nil {
		return fmt.Errorf("creating the inventory: %w", err)
	}
	defer model.Remove()

	addAutoStartManagers()
	perf := installPerfManager()
	installPropertyCollector()

	cert, err := generateCertificate(o.certFile)
	if err != nil {
		return err
	}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	model.Service.Listen = &url.URL{Host: o.listen, User: url.UserPassword(o.username, o.password)}
	server := model.Service.NewServer()
	defer server.Close()
	// Every SOAP request passes through the control layer: added latency and call counts.
	ctl := newControl(perf)
	// Set before any client can connect; net/http reads Handler per request.
	server.Config.Handler = ctl.wrap(server.Config.Handler)

	listener, err := net.Listen("tcp", o.control)
	if err != nil {
		return fmt.Errorf("control listener: %w", err)
	}
	go func() { _ = http.Serve(listener, ctl.routes()) }()

	sdk := *server.URL
	sdk.User = nil
	counts := model.Count()
	state := map[string]interface{}{
		"url":         sdk.String(),
		"address":     sdk.Host,
		"control":     "http://" + listener.Addr().String(),
		"cert_file":   o.certFile,
		"vms":         counts.Machine,
		"hosts":       counts.Host,
		"datastores":  counts.Datastore,
		"startup_sec": time.Since(started).Seconds(),
		"pid":         os.Getpid(),
	}
	line, _ := json.Marshal(state)
	if o.stateFile != "" {
		// Written to a temporary name and renamed, so a reader never sees half a file.
		tmp := o.stateFile + ".tmp"
		if err := os.WriteFile(tmp, line, 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, o.stateFile); err != nil {
			return err
		}
	}
	fmt.Printf("VCSIM_READY %s\n", line)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return nil
}

// generateCertificate makes a self-signed P-256 certificate for 127.0.0.1 and localhost,
// marked as a CA so that OpenSSL accepts it as its own trust anchor (ca_file).
func generateCertificate(path string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	template := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vcsim test vCenter", Organization: []string{"hypervisor-exporter tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, &template, &template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	if err := os.WriteFile(path, certPEM, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("writing %s: %w", path, err)
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
