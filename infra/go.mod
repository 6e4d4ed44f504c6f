module github.com/macie-chatops/macie-chatops/infra

go 1.26

require github.com/macie-chatops/macie-chatops/shared v0.0.0

require go.yaml.in/yaml/v3 v3.0.6 // indirect

replace github.com/macie-chatops/macie-chatops/shared => ../shared
