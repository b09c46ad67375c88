"""The simulated hardware: one world of emulated ISO 15693 tags and the readers that see into it.

- `world`: the fields (one per station), tags placed and removed, the air-time model, fault injection
- `tag`, `chips`: one emulated tag answering real request frames; the NXP chips it can be
- `reader`: the `sim:` reader driver, a host talking frames to the world
- `feig_emulator`, `feig_serve`: a FEIG ISC reader over the world, served on a pty or TCP
- `vpcd_card`: the world behind a virtual PC/SC card for pcscd + vsmartcard-vpcd
"""
