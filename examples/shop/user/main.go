// user: the user directory. Go, net/http and lib/pq from Debian, built in
// GOPATH mode.
//
//	GET  /users       -> 200 [{"id", "name", "email"}, ...]
//	GET  /users/{id}  -> 200 {"id", "name", "email"} | 404
//	POST /users {"name", "email", "password"} -> 201 {"id", "name", "email"} | 409
//
// Every request needs Authorization: Bearer TOKEN, which is checked by
// calling auth's GET /verify (401 otherwise). Users live in PostgreSQL.
// No tracing code: swit sees it from the kernel.
//
// Environment: USER_ADDR (127.0.0.1:8082), AUTH_URL (http://127.0.0.1:8081),
// PG_DSN.
package main

import (
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

type User struct {
	ID    int    `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

type server struct {
	db      *sql.DB
	authURL string
	client  *http.Client
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func reply(w http.ResponseWriter, status int, v interface{}) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	reply(w, status, map[string]string{"error": msg})
}

// verify asks auth who the caller's token belongs to ("" if nobody).
func (s *server) verify(r *http.Request) (string, error) {
	req, _ := http.NewRequestWithContext(r.Context(), "GET", s.authURL+"/verify", nil)
	req.Header.Set("Authorization", r.Header.Get("Authorization"))
	resp, err := s.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct{ User string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return "", nil
	}
	return body.User, nil
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/users" && !strings.HasPrefix(r.URL.Path, "/users/") {
		fail(w, 404, "not found")
		return
	}
	who, err := s.verify(r)
	if err != nil {
		fail(w, 502, "auth: "+err.Error())
		return
	}
	if who == "" {
		fail(w, 401, "bad or missing token")
		return
	}
	id := strings.TrimPrefix(r.URL.Path, "/users/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/users":
		s.list(w, r)
	case r.Method == "GET" && id != r.URL.Path:
		s.get(w, r, id)
	case r.Method == "POST" && r.URL.Path == "/users":
		s.create(w, r)
	default:
		fail(w, 405, "method not allowed")
	}
}

func (s *server) list(w http.ResponseWriter, r *http.Request) {
	rows, err := s.db.QueryContext(r.Context(), `SELECT id, name, email FROM users ORDER BY id`)
	if err != nil {
		fail(w, 500, err.Error())
		return
	}
	defer rows.Close()
	users := []User{}
	for rows.Next() {
		var u User
		if err := rows.Scan(&u.ID, &u.Name, &u.Email); err != nil {
			fail(w, 500, err.Error())
			return
		}
		users = append(users, u)
	}
	reply(w, 200, users)
}

func (s *server) get(w http.ResponseWriter, r *http.Request, id string) {
	n, err := strconv.Atoi(id)
	if err != nil {
		fail(w, 404, "no such user")
		return
	}
	var u User
	err = s.db.QueryRowContext(r.Context(), `SELECT id, name, email FROM users WHERE id = $1`, n).
		Scan(&u.ID, &u.Name, &u.Email)
	if errors.Is(err, sql.ErrNoRows) {
		fail(w, 404, "no such user")
		return
	}
	if err != nil {
		fail(w, 500, err.Error())
		return
	}
	reply(w, 200, u)
}

func (s *server) create(w http.ResponseWriter, r *http.Request) {
	var in struct{ Name, Email, Password string }
	if json.NewDecoder(r.Body).Decode(&in) != nil || in.Name == "" || in.Password == "" {
		fail(w, 400, "want {name, email, password}")
		return
	}
	salt := make([]byte, 4)
	rand.Read(salt)
	saltHex := hex.EncodeToString(salt)
	sum := sha256.Sum256([]byte(saltHex + in.Password))
	u := User{Name: in.Name, Email: in.Email}
	err := s.db.QueryRowContext(r.Context(),
		`INSERT INTO users (name, email, salt, password_hash) VALUES ($1, $2, $3, $4) RETURNING id`,
		in.Name, in.Email, saltHex, hex.EncodeToString(sum[:])).Scan(&u.ID)
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" { // unique_violation
		fail(w, 409, "user exists")
		return
	}
	if err != nil {
		fail(w, 500, err.Error())
		return
	}
	reply(w, 201, u)
}

func main() {
	log.SetFlags(0)
	addr := env("USER_ADDR", "127.0.0.1:8082")
	db, err := sql.Open("postgres", os.Getenv("PG_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		log.Fatalf("user: database: %v", err)
	}
	s := &server{db: db, authURL: env("AUTH_URL", "http://127.0.0.1:8081"),
		client: &http.Client{Timeout: 5 * time.Second}}
	log.Printf("user listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, s))
}
