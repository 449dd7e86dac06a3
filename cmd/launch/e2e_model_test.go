//go:build integration

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// modelServer is a scripted model provider on the host's loopback for the
// real agents: it speaks OpenAI's Responses API (Codex) and Anthropic's
// Messages API (Claude Code, and Pi through a custom provider of that
// API), streaming (SSE) or not. Each turn goes the same way: the first
// request that offers a shell tool gets a call of that tool running
// command; the request that carries the tool's result gets a closing text
// and the end of the turn. Any other request gets a short text.
type modelServer struct {
	host    string // a name in /etc/hosts for 127.0.0.1
	port    int
	command string

	mu     sync.Mutex
	events []string // "responses: tool call shell", "messages: tool result", ...
}

func newModelServer(t *testing.T, command string) *modelServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := &modelServer{port: l.Addr().(*net.TCPAddr).Port, command: command}
	m.host = fmt.Sprintf("model-e2e%d-%d.launch.test", l.Addr().(*net.TCPAddr).Port, len(command))
	srv := &http.Server{Handler: m}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	addHostsLine(t, fmt.Sprintf("127.0.0.1 %s # launch model server\n", m.host))
	return m
}

// base is the server's URL as the agent reaches it through the proxy.
func (m *modelServer) base() string { return fmt.Sprintf("http://%s:%d", m.host, m.port) }

// allow is the allowlist that opens the server and nothing else: its name,
// and its address, since the name resolves to the host's loopback.
func (m *modelServer) allow() string {
	return fmt.Sprintf("allow=%s:%d,127.0.0.1:%d", m.host, m.port, m.port)
}

func (m *modelServer) note(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, fmt.Sprintf(format, args...))
}

// seen returns the events so far and forgets them.
func (m *modelServer) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.events
	m.events = nil
	return e
}

func (m *modelServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/responses"):
		m.responses(w, body)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/messages"):
		m.messages(w, body)
	default:
		m.note("other: %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"error":{"type":"not_found","message":"not scripted"}}`, http.StatusNotFound)
	}
}

// sse writes one server-sent event.
func sse(w http.ResponseWriter, event string, data any) {
	b, _ := json.Marshal(data)
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b)
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
}

// responses answers Codex (OpenAI Responses API, streaming).
func (m *modelServer) responses(w http.ResponseWriter, body []byte) {
	var req struct {
		Tools []struct {
			Type, Name string
		}
		Input []struct {
			Type string
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		m.note("responses: bad request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	result := false
	for _, in := range req.Input {
		result = result || strings.HasSuffix(in.Type, "_call_output")
	}
	tools := map[string]bool{}
	for _, tl := range req.Tools {
		tools[tl.Name] = true
	}
	w.Header().Set("Content-Type", "text/event-stream")
	sse(w, "response.created", map[string]any{"type": "response.created", "response": map[string]any{"id": "resp-1"}})
	var item map[string]any
	call := func(name string, args any) {
		a, _ := json.Marshal(args)
		item = map[string]any{"type": "function_call", "id": "fc-1", "call_id": "call-1", "name": name, "arguments": string(a)}
		m.note("responses: tool call %s", name)
	}
	switch {
	case result:
		m.note("responses: tool result")
	case tools["shell_command"]:
		call("shell_command", map[string]any{"command": m.command})
	case tools["exec_command"]:
		call("exec_command", map[string]any{"cmd": m.command})
	case tools["shell"]:
		call("shell", map[string]any{"command": []string{"bash", "-lc", m.command}})
	default:
		m.note("responses: no shell tool among %v", tools)
	}
	if item == nil {
		item = map[string]any{"type": "message", "role": "assistant", "id": "msg-1",
			"content": []any{map[string]any{"type": "output_text", "text": "done"}}}
	}
	sse(w, "response.output_item.done", map[string]any{"type": "response.output_item.done", "item": item})
	sse(w, "response.completed", map[string]any{"type": "response.completed", "response": map[string]any{
		"id": "resp-1", "usage": map[string]any{"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}})
}

// messages answers Claude Code and Pi (Anthropic Messages API, streaming
// or not).
func (m *modelServer) messages(w http.ResponseWriter, body []byte) {
	var req struct {
		Model    string
		Stream   bool
		Tools    []struct{ Name string }
		Messages []struct {
			Role    string
			Content json.RawMessage
		}
	}
	if err := json.Unmarshal(body, &req); err != nil {
		m.note("messages: bad request: %v", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// The last message carries the tool's result when the agent ran it.
	result := false
	if n := len(req.Messages); n > 0 {
		var blocks []struct{ Type string }
		if json.Unmarshal(req.Messages[n-1].Content, &blocks) == nil {
			for _, b := range blocks {
				result = result || b.Type == "tool_result"
			}
		}
	}
	bash := ""
	for _, tl := range req.Tools {
		if strings.EqualFold(tl.Name, "bash") {
			bash = tl.Name
		}
	}
	var block map[string]any
	stop := "end_turn"
	switch {
	case result:
		m.note("messages: tool result")
	case bash != "":
		m.note("messages: tool call %s", bash)
		block = map[string]any{"type": "tool_use", "id": "toolu_01", "name": bash, "input": map[string]any{"command": m.command, "description": "write the file"}}
		stop = "tool_use"
	}
	if block == nil {
		block = map[string]any{"type": "text", "text": "done"}
	}
	usage := map[string]any{"input_tokens": 1, "output_tokens": 1}
	msg := map[string]any{"id": "msg_01", "type": "message", "role": "assistant", "model": req.Model,
		"stop_sequence": nil, "usage": usage}
	if !req.Stream {
		msg["content"], msg["stop_reason"] = []any{block}, stop
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(msg)
		return
	}
	msg["content"], msg["stop_reason"] = []any{}, nil
	w.Header().Set("Content-Type", "text/event-stream")
	sse(w, "message_start", map[string]any{"type": "message_start", "message": msg})
	if block["type"] == "tool_use" {
		input, _ := json.Marshal(block["input"])
		start := map[string]any{"type": "tool_use", "id": block["id"], "name": block["name"], "input": map[string]any{}}
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": start})
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "input_json_delta", "partial_json": string(input)}})
	} else {
		sse(w, "content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		sse(w, "content_block_delta", map[string]any{"type": "content_block_delta", "index": 0,
			"delta": map[string]any{"type": "text_delta", "text": block["text"]}})
	}
	sse(w, "content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
	sse(w, "message_delta", map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}, "usage": map[string]any{"output_tokens": 1}})
	sse(w, "message_stop", map[string]any{"type": "message_stop"})
}
