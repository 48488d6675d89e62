package postgres_test

import (
	"testing"

	"github.com/holdfast/holdfast/storetest"
)

func BenchmarkVerifyAudit(b *testing.B) {
	db := open(b, newSchema(b, schemaName(b.Name())))
	defer db.Close()
	storetest.BenchVerifyAudit(b, db)
}

func BenchmarkLog(b *testing.B) {
	db := open(b, newSchema(b, schemaName(b.Name())))
	defer db.Close()
	storetest.BenchLog(b, db)
}

func BenchmarkVerifyState(b *testing.B) {
	db := open(b, newSchema(b, schemaName(b.Name())))
	defer db.Close()
	storetest.BenchVerifyState(b, db)
}
