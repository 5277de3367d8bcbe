// Command imagetag prints the runtime image reference studio expects,
// studio-runtime:<tag>. scripts/build-image tags what it builds with it.
package main

import (
	"fmt"

	"studio/containers/image"
)

func main() {
	fmt.Println(image.Reference())
}
