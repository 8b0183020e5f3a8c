package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Security from the environment, as in the Python example and `pnpm loadtest`: TLS is on when any of
// ORDERLY_CA_FILE (the CA of the services' certificates), ORDERLY_CLIENT_CERT + ORDERLY_CLIENT_KEY (a client
// certificate for mTLS) or ORDERLY_TLS_SERVER_NAME is set; a bearer token from ORDERLY_TOKEN_FILE (read again when it
// changes) or ORDERLY_TOKEN goes on every call. Without any of them the connection is plaintext, as in dev mode.

// bearerToken is asked by gRPC before every call (credentials.PerRPCCredentials).
type bearerToken struct {
	mu    sync.Mutex
	file  string
	stamp string
	token string
}

func (b *bearerToken) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.file != "" {
		info, err := os.Stat(b.file)
		if err != nil {
			return nil, err
		}
		stamp := fmt.Sprintf("%d:%d", info.ModTime().UnixNano(), info.Size())
		if stamp != b.stamp {
			data, err := ioutil.ReadFile(b.file)
			if err != nil {
				return nil, err
			}
			if token := strings.TrimSpace(string(data)); token != "" { // a half-written file keeps the old token
				b.token, b.stamp = token, stamp
			}
		}
	}
	if b.token == "" {
		return nil, fmt.Errorf("no bearer token")
	}
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity: a token never travels in plaintext.
func (b *bearerToken) RequireTransportSecurity() bool { return true }

// securityOptions are the dial options the environment asks for (plaintext when it asks for nothing).
func securityOptions() []grpc.DialOption {
	caFile, certFile, keyFile := os.Getenv("ORDERLY_CA_FILE"), os.Getenv("ORDERLY_CLIENT_CERT"), os.Getenv("ORDERLY_CLIENT_KEY")
	serverName := os.Getenv("ORDERLY_TLS_SERVER_NAME")
	tokenFile, token := os.Getenv("ORDERLY_TOKEN_FILE"), strings.TrimSpace(os.Getenv("ORDERLY_TOKEN"))
	if caFile == "" && certFile == "" && keyFile == "" && serverName == "" {
		check(tokenFile == "" && token == "", "a bearer token needs TLS: set ORDERLY_CA_FILE (and ORDERLY_CLIENT_CERT/KEY for mTLS)")
		return []grpc.DialOption{grpc.WithInsecure()}
	}
	config := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := ioutil.ReadFile(caFile)
		must(err, "read ORDERLY_CA_FILE")
		pool := x509.NewCertPool()
		check(pool.AppendCertsFromPEM(pem), "ORDERLY_CA_FILE %s holds no PEM certificate", caFile)
		config.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		must(err, "load ORDERLY_CLIENT_CERT / ORDERLY_CLIENT_KEY")
		config.Certificates = []tls.Certificate{pair}
	}
	options := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(config))}
	if tokenFile != "" || token != "" {
		options = append(options, grpc.WithPerRPCCredentials(&bearerToken{file: tokenFile, token: token}))
	}
	return options
}
