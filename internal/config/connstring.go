package config

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
)

// ConnectionString is a parsed Azure Storage connection string.
type ConnectionString struct {
	AccountName string
	// AccountKey is the shared key. It is a secret: never log or print it.
	AccountKey string
	// SAS is a shared access signature without the leading "?". It is a secret too.
	SAS           string
	QueueEndpoint string
	TableEndpoint string
}

// connectionStringEnv names the variable in error messages; the value itself never appears.
const connectionStringEnv = "AZURE_STORAGE_CONNECTION_STRING"

// Azurite's default endpoints, which UseDevelopmentStorage=true stands for.
const (
	developmentQueueEndpoint = "http://127.0.0.1:10001/devstoreaccount1"
	developmentTableEndpoint = "http://127.0.0.1:10002/devstoreaccount1"
	developmentAccountKey    = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// ParseConnectionString parses value, a connection string in the form the Azure portal shows
// ("DefaultEndpointsProtocol=https;AccountName=...;AccountKey=...;EndpointSuffix=..."), with
// explicit QueueEndpoint and TableEndpoint (as for Azurite), SharedAccessSignature, or
// UseDevelopmentStorage=true. defaultSuffix is used when the string has no EndpointSuffix.
// Errors name the key at fault but never contain any part of value.
func ParseConnectionString(value, defaultSuffix string) (ConnectionString, error) {
	fields := map[string]string{}
	for i, segment := range strings.Split(value, ";") {
		segment = strings.TrimSpace(segment)
		if segment == "" {
			continue
		}
		key, val, ok := strings.Cut(segment, "=")
		if !ok {
			return ConnectionString{}, fmt.Errorf("invalid %s: segment %d has no '=': use Key=Value pairs separated by ';' as shown on the storage account's Access keys page",
				connectionStringEnv, i+1)
		}
		fields[strings.ToLower(strings.TrimSpace(key))] = strings.TrimSpace(val)
	}

	if strings.EqualFold(fields["usedevelopmentstorage"], "true") {
		return ConnectionString{
			AccountName:   "devstoreaccount1",
			AccountKey:    developmentAccountKey,
			QueueEndpoint: developmentQueueEndpoint,
			TableEndpoint: developmentTableEndpoint,
		}, nil
	}

	cs := ConnectionString{
		AccountName:   fields["accountname"],
		AccountKey:    fields["accountkey"],
		SAS:           strings.TrimPrefix(fields["sharedaccesssignature"], "?"),
		QueueEndpoint: strings.TrimSuffix(fields["queueendpoint"], "/"),
		TableEndpoint: strings.TrimSuffix(fields["tableendpoint"], "/"),
	}

	if cs.AccountKey == "" && cs.SAS == "" {
		return ConnectionString{}, fmt.Errorf("invalid %s: it has neither AccountKey nor SharedAccessSignature: copy the whole connection string from the storage account's Access keys page",
			connectionStringEnv)
	}
	if cs.AccountKey != "" {
		if cs.AccountName == "" {
			return ConnectionString{}, fmt.Errorf("invalid %s: AccountKey without AccountName: add AccountName=<storage account>", connectionStringEnv)
		}
		if _, err := base64.StdEncoding.DecodeString(cs.AccountKey); err != nil {
			return ConnectionString{}, fmt.Errorf("invalid %s: AccountKey is not valid base64: copy the key again, it usually ends with '=='", connectionStringEnv)
		}
	}

	protocol := strings.ToLower(fields["defaultendpointsprotocol"])
	if protocol == "" {
		protocol = "https"
	}
	if protocol != "https" && protocol != "http" {
		return ConnectionString{}, fmt.Errorf("invalid %s: DefaultEndpointsProtocol must be https or http", connectionStringEnv)
	}
	suffix := fields["endpointsuffix"]
	if suffix == "" {
		suffix = defaultSuffix
	}

	if cs.QueueEndpoint == "" || cs.TableEndpoint == "" {
		if cs.AccountName == "" {
			return ConnectionString{}, fmt.Errorf("invalid %s: it has no AccountName and no QueueEndpoint/TableEndpoint: add AccountName=<storage account>", connectionStringEnv)
		}
		if cs.QueueEndpoint == "" {
			cs.QueueEndpoint = fmt.Sprintf("%s://%s.queue.%s", protocol, cs.AccountName, suffix)
		}
		if cs.TableEndpoint == "" {
			cs.TableEndpoint = fmt.Sprintf("%s://%s.table.%s", protocol, cs.AccountName, suffix)
		}
	}

	for _, endpoint := range []struct{ key, value string }{{"QueueEndpoint", cs.QueueEndpoint}, {"TableEndpoint", cs.TableEndpoint}} {
		parsed, err := url.Parse(endpoint.value)
		if err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" {
			return ConnectionString{}, fmt.Errorf("invalid %s: %s is not an http(s) URL", connectionStringEnv, endpoint.key)
		}
	}
	return cs, nil
}
