// inventory: reserves and releases stock over gRPC. Go, grpc-go 1.33 from
// Debian (golang-google-grpc-dev), lib/pq, built in GOPATH mode.
//
//	/inventory.Inventory/Reserve {"item": SKU, "qty": N} -> {"item", "remaining", "price_cents"}
//	/inventory.Inventory/Release {"item": SKU, "qty": N} -> {"item", "remaining"}
//
// Reserve fails with FAILED_PRECONDITION when there is not enough stock,
// NOT_FOUND for an unknown item. Stock lives in PostgreSQL (table items).
//
// There is no protoc here, so there is no generated code: the service is a
// hand-written grpc.ServiceDesc, and its messages are JSON through a codec
// registered under the name "json". grpc-go picks a codec by the request's
// content-subtype, so clients send content-type application/grpc+json (still
// gRPC on the wire: 5-byte framed messages, grpc-status in the trailers).
//
// No tracing code: swit sees it from the kernel.
//
// Environment: INVENTORY_ADDR (127.0.0.1:8085), PG_DSN.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"log"
	"net"
	"os"

	_ "github.com/lib/pq"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
)

// jsonCodec marshals messages as JSON (content-type application/grpc+json).
type jsonCodec struct{}

func (jsonCodec) Marshal(v interface{}) ([]byte, error)   { return json.Marshal(v) }
func (jsonCodec) Unmarshal(b []byte, v interface{}) error { return json.Unmarshal(b, v) }
func (jsonCodec) Name() string                            { return "json" }

type StockRequest struct {
	Item string `json:"item"`
	Qty  int    `json:"qty"`
}

type StockReply struct {
	Item       string `json:"item"`
	Remaining  int    `json:"remaining"`
	PriceCents int    `json:"price_cents,omitempty"`
}

type inventory struct{ db *sql.DB }

func (s *inventory) Reserve(ctx context.Context, r *StockRequest) (*StockReply, error) {
	if r.Qty <= 0 {
		return nil, status.Error(codes.InvalidArgument, "qty must be positive")
	}
	out := &StockReply{Item: r.Item}
	err := s.db.QueryRowContext(ctx,
		`UPDATE items SET stock = stock - $2 WHERE sku = $1 AND stock >= $2
		 RETURNING stock, price_cents`, r.Item, r.Qty).Scan(&out.Remaining, &out.PriceCents)
	if errors.Is(err, sql.ErrNoRows) {
		// Nothing updated: an unknown item, or not enough of it.
		var stock int
		if s.db.QueryRowContext(ctx, `SELECT stock FROM items WHERE sku = $1`, r.Item).Scan(&stock) != nil {
			return nil, status.Errorf(codes.NotFound, "no item %q", r.Item)
		}
		return nil, status.Errorf(codes.FailedPrecondition, "out of stock: %q has %d, %d wanted", r.Item, stock, r.Qty)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reserve: %v", err)
	}
	return out, nil
}

func (s *inventory) Release(ctx context.Context, r *StockRequest) (*StockReply, error) {
	out := &StockReply{Item: r.Item}
	err := s.db.QueryRowContext(ctx,
		`UPDATE items SET stock = stock + $2 WHERE sku = $1 RETURNING stock`, r.Item, r.Qty).Scan(&out.Remaining)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, status.Errorf(codes.NotFound, "no item %q", r.Item)
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "release: %v", err)
	}
	return out, nil
}

// unary adapts a method of inventory to a grpc.MethodDesc handler: what
// protoc-gen-go would generate (minus interceptors: the server has none).
func unary(name string, m func(*inventory, context.Context, *StockRequest) (*StockReply, error)) grpc.MethodDesc {
	return grpc.MethodDesc{
		MethodName: name,
		Handler: func(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
			in := new(StockRequest)
			if err := dec(in); err != nil {
				return nil, err
			}
			return m(srv.(*inventory), ctx, in)
		},
	}
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "inventory.Inventory",
	HandlerType: (*interface{})(nil),
	Methods: []grpc.MethodDesc{
		unary("Reserve", (*inventory).Reserve),
		unary("Release", (*inventory).Release),
	},
	Metadata: "inventory (hand-written, no .proto)",
}

func main() {
	encoding.RegisterCodec(jsonCodec{})
	addr := os.Getenv("INVENTORY_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8085"
	}
	db, err := sql.Open("postgres", os.Getenv("PG_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		log.Fatalf("inventory: database: %v", err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	s := grpc.NewServer()
	s.RegisterService(&serviceDesc, &inventory{db: db})
	log.SetFlags(0)
	log.Printf("inventory listening on %s", lis.Addr())
	log.Fatal(s.Serve(lis))
}
