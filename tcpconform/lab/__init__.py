"""The network lab: network namespaces, a veth pair, the firewall rule that keeps a host's kernel from
answering for the tester, and what removes all of it on exit, on failure and on Ctrl-C.  Everything
it creates is named ``tcpc...``."""
