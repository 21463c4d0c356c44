package portforward

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	//lint:ignore SA1019 client-go's SPDY dialer (transport/spdy) still returns this package's Connection
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// KubeEndpoints finds pods through the API server.
type KubeEndpoints struct {
	Client kubernetes.Interface
}

var _ Endpoints = KubeEndpoints{}

// Pick resolves the workload's pod selector (and, for a service, its target
// port), then takes the newest ready pod.
func (k KubeEndpoints) Pick(ctx context.Context, f Forward) (Endpoint, error) {
	if f.Kind == "pod" {
		pod, err := k.Client.CoreV1().Pods(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return Endpoint{}, err
		}
		if !podReady(pod) {
			return Endpoint{}, fmt.Errorf("pod %s/%s is not ready", f.Namespace, f.Name)
		}
		return endpointOf(pod, intstr.Parse(f.Port))
	}
	sel, port, err := k.selector(ctx, f)
	if err != nil {
		return Endpoint{}, err
	}
	pods, err := k.Client.CoreV1().Pods(f.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return Endpoint{}, err
	}
	pod := newestReady(pods.Items)
	if pod == nil {
		return Endpoint{}, fmt.Errorf("%s %s/%s has no ready pod (%d pods match %q)", f.Kind, f.Namespace, f.Name, len(pods.Items), sel)
	}
	return endpointOf(pod, port)
}

// selector returns the workload's pod selector and the pod port the forward means.
func (k KubeEndpoints) selector(ctx context.Context, f Forward) (labels.Selector, intstr.IntOrString, error) {
	port := intstr.Parse(f.Port)
	var ls *metav1.LabelSelector
	apps := k.Client.AppsV1()
	switch f.Kind {
	case "service":
		svc, err := k.Client.CoreV1().Services(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return nil, port, err
		}
		target, err := servicePort(svc, port)
		if err != nil {
			return nil, port, err
		}
		return labels.SelectorFromSet(svc.Spec.Selector), target, nil
	case "deployment":
		d, err := apps.Deployments(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return nil, port, err
		}
		ls = d.Spec.Selector
	case "statefulset":
		s, err := apps.StatefulSets(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return nil, port, err
		}
		ls = s.Spec.Selector
	case "daemonset":
		d, err := apps.DaemonSets(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return nil, port, err
		}
		ls = d.Spec.Selector
	case "replicaset":
		r, err := apps.ReplicaSets(f.Namespace).Get(ctx, f.Name, metav1.GetOptions{})
		if err != nil {
			return nil, port, err
		}
		ls = r.Spec.Selector
	default:
		return nil, port, fmt.Errorf("cannot forward to kind %q", f.Kind)
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	return sel, port, err
}

// servicePort maps a service port (number or name) to the pods' target port.
func servicePort(svc *corev1.Service, port intstr.IntOrString) (intstr.IntOrString, error) {
	for _, p := range svc.Spec.Ports {
		if (port.Type == intstr.Int && p.Port == port.IntVal) || (port.Type == intstr.String && p.Name == port.StrVal) {
			if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0 {
				return intstr.FromInt32(p.Port), nil
			}
			return p.TargetPort, nil
		}
	}
	return port, fmt.Errorf("service %s/%s has no port %s", svc.Namespace, svc.Name, port.String())
}

// Ready tells whether a pod is still ready and not terminating.
func (k KubeEndpoints) Ready(ctx context.Context, namespace, name string) (bool, error) {
	pod, err := k.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return podReady(pod), nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// newestReady is the ready pod created last: after a rollout, the new version.
func newestReady(pods []corev1.Pod) *corev1.Pod {
	var best *corev1.Pod
	for i := range pods {
		p := &pods[i]
		if !podReady(p) {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&p.CreationTimestamp) ||
			(best.CreationTimestamp.Equal(&p.CreationTimestamp) && p.Name > best.Name) {
			best = p
		}
	}
	return best
}

// endpointOf finds the port on the pod: a number as is, a name among its
// containers' ports.
func endpointOf(pod *corev1.Pod, port intstr.IntOrString) (Endpoint, error) {
	if port.Type == intstr.Int {
		return Endpoint{Pod: pod.Name, Port: int(port.IntVal)}, nil
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port.StrVal {
				return Endpoint{Pod: pod.Name, Port: int(p.ContainerPort)}, nil
			}
		}
	}
	return Endpoint{}, fmt.Errorf("pod %s/%s has no container port named %q", pod.Namespace, pod.Name, port.StrVal)
}

// SPDYTunnel opens streams through the API server's pods/portforward
// subresource, one SPDY connection per pod shared by that pod's streams.
type SPDYTunnel struct {
	Config *rest.Config
	Client rest.Interface // a CoreV1 REST client

	mu      sync.Mutex
	conns   map[string]httpstream.Connection
	request atomic.Int64
}

var _ Tunnel = (*SPDYTunnel)(nil)

// Open creates the error and data streams of one forwarded connection.
func (t *SPDYTunnel) Open(ctx context.Context, namespace string, ep Endpoint) (Stream, error) {
	conn, err := t.conn(namespace, ep.Pod)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(ep.Port))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatInt(t.request.Add(1), 10))
	errStream, err := conn.CreateStream(h)
	if err != nil {
		t.drop(namespace, ep.Pod, conn)
		return nil, err
	}
	errStream.Close() // nothing to send on it
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(h)
	if err != nil {
		conn.RemoveStreams(errStream)
		t.drop(namespace, ep.Pod, conn)
		return nil, err
	}
	s := &spdyStream{Stream: data, errStream: errStream, remote: make(chan error, 1), onBroken: func() { t.drop(namespace, ep.Pod, conn) }, conn: conn}
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			s.remote <- fmt.Errorf("reading the error stream: %w", err)
		case len(msg) > 0:
			s.remote <- fmt.Errorf("%s", msg)
		default:
			s.remote <- nil
		}
	}()
	return s, nil
}

// conn returns the pod's open connection, dialing one when there is none or the
// last one closed (the API server restarted, the pod went away).
func (t *SPDYTunnel) conn(namespace, pod string) (httpstream.Connection, error) {
	key := namespace + "/" + pod
	t.mu.Lock()
	defer t.mu.Unlock()
	if c := t.conns[key]; c != nil {
		select {
		case <-c.CloseChan():
		default:
			return c, nil
		}
	}
	cfg := rest.CopyConfig(t.Config)
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	u := t.Client.Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
	c, _, err := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u).Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, err
	}
	if t.conns == nil {
		t.conns = map[string]httpstream.Connection{}
	}
	t.conns[key] = c
	return c, nil
}

// drop closes a pod's connection if it is still the current one.
func (t *SPDYTunnel) drop(namespace, pod string, c httpstream.Connection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conns[namespace+"/"+pod] == c {
		delete(t.conns, namespace+"/"+pod)
	}
	c.Close()
}

// Close closes every connection.
func (t *SPDYTunnel) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, c := range t.conns {
		c.Close()
		delete(t.conns, k)
	}
}

type spdyStream struct {
	httpstream.Stream
	errStream httpstream.Stream
	conn      httpstream.Connection
	remote    chan error
	onBroken  func()
}

func (s *spdyStream) CloseWrite() error { return s.Stream.Close() }

// Close resets the data stream (unsent data would hold the error stream back)
// and returns what the remote side reported.
func (s *spdyStream) Close() error {
	s.Reset()
	err := <-s.remote
	s.conn.RemoveStreams(s.errStream, s.Stream)
	if err != nil {
		s.onBroken()
	}
	return err
}
