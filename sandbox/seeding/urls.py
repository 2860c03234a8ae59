from django.urls import path

from sandbox.seeding import views

# Included under payers/<slug:slug>/data/.
urlpatterns = [
    path("", views.data_home, name="seeding-data"),
    path("upload/", views.data_upload, name="seeding-upload"),
    path("upload/progress/", views.data_upload_progress, name="seeding-upload-progress"),
    path("reset/", views.data_reset, name="seeding-reset"),
    path("reset/progress/", views.data_reset_progress, name="seeding-reset-progress"),
    path("members/", views.member_list, name="seeding-members"),
    path("members/new/", views.member_create, name="seeding-member-new"),
    path("members/<str:patient_id>/", views.member_detail, name="seeding-member"),
    path("members/<str:patient_id>/edit/", views.member_edit, name="seeding-member-edit"),
    path("members/<str:patient_id>/delete/", views.member_delete, name="seeding-member-delete"),
    path("attribution/", views.list_index, name="seeding-lists"),
    path("attribution/<str:group_id>/", views.list_detail, name="seeding-list"),
    path("attribution/<str:group_id>/members/", views.list_add_member, name="seeding-list-add"),
    path(
        "attribution/<str:group_id>/members/<str:patient_id>/remove/",
        views.list_remove_member,
        name="seeding-list-remove",
    ),
    path("attribution/<str:group_id>/status/", views.list_set_status, name="seeding-list-status"),
    path("formularies/", views.formulary_index, name="seeding-formularies"),
    path("formularies/new/", views.formulary_create, name="seeding-formulary-new"),
    path("formularies/plans/new/", views.plan_create, name="seeding-plan-new"),
    path("formularies/<str:formulary_id>/", views.formulary_detail, name="seeding-formulary"),
    path("formularies/<str:formulary_id>/drugs/", views.formulary_add_drug, name="seeding-formulary-add"),
    path(
        "formularies/<str:formulary_id>/drugs/<str:item_id>/remove/",
        views.formulary_remove_item,
        name="seeding-formulary-remove",
    ),
    path("formularies/<str:formulary_id>/retire/", views.formulary_retire, name="seeding-formulary-retire"),
]
