import asyncio
import json

from django import forms
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .models import Note


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["title", "body"]


def note_form(request):
    """GET: the form (CSRF token and cookie). POST (CSRF-checked by the
    middleware): a new note, then a redirect to it."""
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            note = form.save()
            return redirect("notes:detail", note_id=note.id)
    else:
        form = NoteForm()
    return render(request, "notes/form.html", {"form": form})


def note_detail(request, note_id):
    note = get_object_or_404(Note, id=note_id)
    body = "note %d: %s\n%s\n" % (note.id, note.title, note.body)
    return HttpResponse(body, content_type="text/plain; charset=utf-8")


def api_notes(request):
    notes = [
        {"id": n.id, "title": n.title, "url": reverse("notes:detail", args=[n.id])}
        for n in Note.objects.all()
    ]
    return JsonResponse(
        {
            "count": len(notes),
            "notes": notes,
            "form_url": reverse("notes:form"),
            "absolute": request.build_absolute_uri(reverse("notes:api")),
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META["SCRIPT_NAME"],
        }
    )


@csrf_exempt
@require_POST
def api_echo(request):
    """A JSON API that takes a JSON body (no CSRF: not a form)."""
    try:
        data = json.loads(request.body)
    except ValueError as e:
        return JsonResponse({"error": str(e)}, status=400)
    return JsonResponse(
        {"received": data, "content_type": request.content_type, "length": len(request.body)},
        status=201,
    )


async def api_async(request):
    """An async view: under ASGI it runs on the worker's event loop, and
    reaches the ORM through its async API (which runs the queries in
    asgiref's thread); under WSGI Django runs it in an event loop of its
    own."""
    await asyncio.sleep(0)
    loop = type(asyncio.get_running_loop()).__module__
    count = await Note.objects.acount()
    titles = [n.title async for n in Note.objects.all()]
    return JsonResponse(
        {
            "count": count,
            "titles": titles,
            "loop": loop,
            "path": request.path,
            "path_info": request.path_info,
            "script_name": request.META["SCRIPT_NAME"],
            "asgi": hasattr(request, "scope"),
        }
    )
