module github.com/mailbridge/mailbridge

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/emersion/go-message v0.18.2
	github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6
	github.com/emersion/go-smtp v0.25.1
	github.com/fsnotify/fsnotify v1.10.1
	golang.org/x/net v0.62.0
	golang.org/x/sys v0.50.0
	golang.org/x/text v0.43.0
	software.sslmate.com/src/go-pkcs12 v0.7.4
)

require golang.org/x/crypto v0.58.0 // indirect

replace github.com/emersion/go-smtp => ./third_party/go-smtp
