"""FEIG ISC reader protocol, sans-IO: `frames` cuts and builds the standard and advanced protocol frames (with
their CRC and a resyncing FrameReader); `commands` holds the [0xB0] ISO host commands and the [0xB1] NXP
custom commands built on them, in both directions (the driver sends them, the emulator answers them)."""
