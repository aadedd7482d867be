"""The LangGraph state machine: state, nodes, the graph builder, tracing and the Studio entry."""
