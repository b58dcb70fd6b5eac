"""Tests of the operator dashboard: data access, pages (AppTest), the job and a real browser."""
