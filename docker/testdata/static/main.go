// Command static is a tiny statically linked program for the docker
// package's tests (ELF dependency resolution, simulator image builds).
package main

import "os"

func main() { os.Stdout.WriteString("static\n") }
