package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// serviceRange is the virtual range for ClusterIP Services; nothing routes
// it, so it cannot collide with a real network.
const serviceRange = "10.96.0.0/24"

// startControlPlane starts etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler, and waits until the API server's /readyz is ok.
func (c *Cluster) startControlPlane() error {
	keys, err := writePKI(c.Dir, net.IPv4(10, 96, 0, 1))
	if err != nil {
		return fmt.Errorf("write keys: %w", err)
	}
	etcdURL, err := c.startEtcd()
	if err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.Token = randomHex(16)
	if err := c.writeAdminKubeconfig(keys.caData, port); err != nil {
		return err
	}
	apiserver, err := c.startAPIServer(keys, etcdURL, port)
	if err != nil {
		return err
	}
	if err := waitFor(apiserver, time.Minute, c.readyz); err != nil {
		return err
	}
	if err := c.startControllerManager(keys); err != nil {
		return err
	}
	return c.startScheduler()
}

func (c *Cluster) startEtcd() (string, error) {
	clientPort, err := freePort()
	if err != nil {
		return "", err
	}
	peerPort, err := freePort()
	if err != nil {
		return "", err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(clientPort)
	peer := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	p, err := startProcess(c.Dir, "etcd", "/usr/bin/etcd",
		"--name=kubetest",
		"--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer,
		"--initial-cluster=kubetest="+peer,
		"--logger=zap", "--log-outputs=stderr")
	if err != nil {
		return "", err
	}
	c.procs = append(c.procs, p)
	return client, nil
}

func (c *Cluster) startAPIServer(keys *pki, etcdURL string, port int) (*process, error) {
	tokens := filepath.Join(c.Dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return nil, err
	}
	p, err := startProcess(c.Dir, "kube-apiserver", filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+filepath.Join(c.Dir, "apiserver"),
		"--tls-cert-file="+keys.serverCert, "--tls-private-key-file="+keys.serverKey,
		"--client-ca-file="+keys.caCert,
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+keys.saPub,
		"--service-account-signing-key-file="+keys.saKey,
		"--service-cluster-ip-range="+serviceRange,
		// A loopback advertise address cannot be written as the
		// kubernetes Service's endpoint.
		"--endpoint-reconciler-type=none",
		// The kubelet serves a self-signed certificate on loopback and
		// allows anonymous calls; the node's address is 127.0.0.1.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false")
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

func (c *Cluster) startControllerManager(keys *pki) error {
	p, err := startProcess(c.Dir, "kube-controller-manager", filepath.Join(c.bin, "kube-controller-manager"),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		// Signs service-account tokens and publishes the CA that pods
		// use to verify the API server.
		"--service-account-private-key-file="+keys.saKey,
		"--root-ca-file="+keys.caCert,
		"--controllers=*",
		"--secure-port=0",
		"--profiling=false")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	c.controllerManager = p
	return nil
}

func (c *Cluster) startScheduler() error {
	p, err := startProcess(c.Dir, "kube-scheduler", filepath.Join(c.bin, "kube-scheduler"),
		"--kubeconfig="+c.Kubeconfig,
		"--leader-elect=false",
		"--secure-port=0",
		"--profiling=false")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// writeAdminKubeconfig writes Kubeconfig and sets Config and Client.
func (c *Cluster) writeAdminKubeconfig(caData []byte, port int) error {
	server := "https://127.0.0.1:" + strconv.Itoa(port)
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: c.Token}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: "admin"}
	cfg.CurrentContext = "kubetest"
	c.Kubeconfig = filepath.Join(c.Dir, "admin.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, c.Kubeconfig); err != nil {
		return err
	}
	c.Config = &rest.Config{
		Host:            server,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: caData},
		QPS:             100,
		Burst:           200,
	}
	client, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	c.Client = client
	return nil
}

// readyz reports whether the API server answers /readyz with ok.
func (c *Cluster) readyz() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil && string(body) == "ok"
}

// waitDefaultServiceAccount waits for the controller-manager to create the
// "default" service account in "default": until then, pods are refused.
func (c *Cluster) waitDefaultServiceAccount(ctx context.Context) error {
	err := waitFor(c.controllerManager, time.Minute, func() bool {
		_, err := c.Client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("wait for the default service account: %w", err)
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
