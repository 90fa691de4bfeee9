"""Thin routes: take the serving object from app.state, call it, render the result."""
