"""Target agents: the target's application and TCP state, driven over a side channel.

The protocol (``docs/agent-protocol.md``) is in :mod:`.protocol`, the Linux agent in :mod:`.linux`
(``python -m tcpconform.agent.linux``) and the engine's side, :class:`.client.AgentTarget`, in
:mod:`.client`.  Importing this package imports nothing heavy, so an agent starts quickly.
"""
