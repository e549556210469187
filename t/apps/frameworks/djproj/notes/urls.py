from django.urls import path

from . import views

app_name = "notes"
urlpatterns = [
    path("notes/", views.note_form, name="form"),
    path("notes/<int:note_id>/", views.note_detail, name="detail"),
    path("api/notes/", views.api_notes, name="api"),
    path("api/echo/", views.api_echo, name="echo"),
    path("api/async/", views.api_async, name="async"),
]
