module github.com/mrredis/mrredis

go 1.26.8
