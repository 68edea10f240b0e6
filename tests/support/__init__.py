"""Shared test machinery: real databases, real servers, small clients."""
