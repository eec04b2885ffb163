// Command hello prints one line; the image command tests package it.
package main

import "fmt"

func main() { fmt.Println("hello from the image") }
