"""Exchange adapters behind one interface: orders go out, execution reports come back."""
