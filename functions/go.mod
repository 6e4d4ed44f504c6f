module github.com/macie-chatops/macie-chatops/functions

go 1.26

require github.com/macie-chatops/macie-chatops/shared v0.0.0

replace github.com/macie-chatops/macie-chatops/shared => ../shared
