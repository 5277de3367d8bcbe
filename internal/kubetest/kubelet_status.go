package kubetest

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// WritePodStatusAsKubelet changes a pod's status the way a kubelet does:
// it reads the pod, lets change edit its status, and writes it back
// through the status subresource (retrying on a conflicting write). On a
// cluster without a node this is how a test shows informers a running,
// crashing or OOM-killed pod.
func (c *Cluster) WritePodStatusAsKubelet(ctx context.Context, namespace, name string, change func(*corev1.PodStatus)) (*corev1.Pod, error) {
	var updated *corev1.Pod
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := c.Client.CoreV1().Pods(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(&pod.Status)
		updated, err = c.Client.CoreV1().Pods(namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	return updated, err
}
