import datetime as dt

import factory
from django.contrib.auth import get_user_model

from tasks.models import Company, CustomField, Priority, Status, Task, TaskType, UserProfile


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"csm{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = "Casey"
    last_name = factory.Sequence(lambda n: f"Manager{n}")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def time_zone(self, create, extracted, **kwargs):  # noqa: ANN001
        if create:
            UserProfile.objects.update_or_create(user=self, defaults={"time_zone": extracted or ""})
            self.save()


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company

    name = factory.Sequence(lambda n: f"Company {n}")


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomField

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.LazyAttribute(lambda f: f.key.replace("_", " ").title())
    field_type = CustomField.FieldType.TEXT


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    name = factory.Sequence(lambda n: f"Task {n}")
    owner = factory.SubFactory(UserFactory)
    status = factory.LazyFunction(lambda: Status.objects.get(value="Open"))
    priority = factory.LazyFunction(lambda: Priority.objects.get(value="Medium"))
    due_date = factory.LazyFunction(dt.date.today)


def status(value: str) -> Status:
    return Status.objects.get(value=value)


def priority(value: str) -> Priority:
    return Priority.objects.get(value=value)


def task_type(name: str) -> TaskType:
    return TaskType.objects.get(name=name)
