package docker

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestMain lets the test binary act as the simulator inside the images the
// integration tests build: the image's entrypoint is "/qwenlab sim …".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "sim" {
		os.Exit(testSim(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// testSim is a stand-in simulator: it reports on its environment (/tmp,
// the models mount), prints a progress bar, serves /system_stats, prints
// N lines on /print?n=N and exits with a code on /exit?code=N.
func testSim(args []string) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1", "")
	port := fs.Int("port", 8188, "")
	models := fs.String("models", "/models", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Println("sim: starting")
	tmpMode := "missing"
	if st, err := os.Stat("/tmp"); err == nil {
		tmpMode = st.Mode().String()
	}
	tmpWritable := os.WriteFile("/tmp/probe", []byte("x"), 0o600) == nil
	fmt.Printf("sim: tmp mode=%s writable=%v\n", tmpMode, tmpWritable)
	_, modelErr := os.ReadFile(filepath.Join(*models, "model.safetensors"))
	modelWriteErr := os.WriteFile(filepath.Join(*models, "written"), []byte("x"), 0o600)
	fmt.Printf("sim: models readable=%v writable=%v\n", modelErr == nil, modelWriteErr == nil)
	fmt.Fprint(os.Stderr, "\r  0%|          |\r 50%|#####     |\r100%|##########|\n")

	mux := http.NewServeMux()
	mux.HandleFunc("/system_stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"system":{"os":"posix"}}`)
	})
	mux.HandleFunc("/print", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		for i := range n {
			fmt.Printf("line %d\n", i)
		}
	})
	exit := make(chan int, 1)
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(r.URL.Query().Get("code"))
		fmt.Printf("sim: exiting with %d\n", code)
		exit <- code
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(*listen, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintln(os.Stderr, "sim:", err)
		return 1
	}
	fmt.Printf("To see the GUI go to: http://%s\n", ln.Addr())
	go http.Serve(ln, mux)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case code := <-exit:
		return code
	case <-sig:
		fmt.Println("sim: stopping")
		return 0
	}
}
