module github.com/pollen-hq/pollen

go 1.26.8
