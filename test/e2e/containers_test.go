//go:build e2ekind || e2eaks

// This file holds what the kind and AKS tests share: both run the consumer in real
// containers, whose logs the scenario prints when it fails.
package e2e

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aks-edw/aks-edw/internal/installer/kubeconfig"
)

// containerLogs returns a function that collects the consumer containers' logs in a namespace.
func containerLogs(kubeconfigPath, kubeContext string) func(context.Context, string) string {
	return func(ctx context.Context, namespace string) string {
		config, err := kubeconfig.Source{Path: kubeconfigPath, Context: kubeContext}.RESTConfig()
		if err != nil {
			return err.Error()
		}
		kube, err := kubernetes.NewForConfig(config)
		if err != nil {
			return err.Error()
		}
		pods, err := kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=consumer"})
		if err != nil {
			return err.Error()
		}
		var b strings.Builder
		tail := int64(50)
		for _, pod := range pods.Items {
			data, err := kube.CoreV1().Pods(namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "consumer", TailLines: &tail}).DoRaw(ctx)
			fmt.Fprintf(&b, "--- %s (last %d lines)\n%s%v\n", pod.Name, tail, data, errorText(err))
		}
		return b.String()
	}
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return "error: " + err.Error()
}
