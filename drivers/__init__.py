"""I/O around the sans-IO protocols: readers, scanners, card readers and the simulator."""
